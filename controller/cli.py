"""Thin click commands: parse options, call the API, render, return the value's exit code.

Exit codes are a contract (Terraform's): 0 success, 1 error, and with --detailed-exitcode
2 means "the plan has changes". Usage errors therefore exit 1, never click's default 2.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import click
from click.core import ParameterSource

from controller import api
from controller.console import console_for
from controller.daemon.logs import LOG_FORMATS, LogFormat
from controller.errors import GitopsError, ManifestError, UsageError
from controller.manifest import json_schema
from controller.output import err, out
from controller.registry import Registry, configure_process
from controller.render import json, text
from controller.target import DEFAULT_TRACKING_URI


def target_options(command: Callable[..., int]) -> Callable[..., int]:
    """--tracking-uri/--registry-uri, for the commands that talk to a registry."""

    @click.option(
        "--tracking-uri",
        metavar="URI",
        help="MLflow tracking URI. Default: $MLFLOW_TRACKING_URI, then the manifest's "
        "tracking_uri, then sqlite:///mlflow.db.",
    )
    @click.option(
        "--registry-uri",
        metavar="URI",
        help="MLflow registry URI. Default: $MLFLOW_REGISTRY_URI, then the tracking URI.",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, tracking_uri: str | None, registry_uri: str | None, **kw: Any) -> int:
        return command(*args, flags=api.TargetFlags(tracking_uri, registry_uri), **kw)

    return wrapper


def manifest_option(command: Callable[..., int]) -> Callable[..., int]:
    return click.option(
        "-f", "--file", "manifest_path", default="registry.yaml", show_default=True,
        metavar="FILE", help="The manifest to read.",
    )(command)  # fmt: skip


def format_option(*choices: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    return click.option(
        "--format", "output_format", type=click.Choice(choices), default=choices[0],
        show_default=True, help="Output format.",
    )  # fmt: skip


def notify_option(events: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """--notify URL (repeatable), or $MLFLOW_GITOPS_NOTIFY_URLS: the receivers, as secrets."""

    def decorate(command: Callable[..., int]) -> Callable[..., int]:
        @click.option(
            "--notify", "notify_urls", multiple=True, metavar="URL",
            help=f"POST {events} to URL as JSON with a Slack-compatible `text`; repeatable. "
            "Default: $MLFLOW_GITOPS_NOTIFY_URLS (URLs separated by spaces or commas). A "
            "receiver that fails is a warning that does not name it, never a failure.",
        )  # fmt: skip
        @functools.wraps(command)
        def wrapper(*args: Any, notify_urls: tuple[str, ...], **kw: Any) -> int:
            return command(*args, receivers=api.receivers(notify_urls), **kw)

        return wrapper

    return decorate


def _announce(receivers: list[str], event: api.Event | None) -> None:
    """Tell the receivers, if there are any and something happened; warn about those that
    did not take it."""
    if receivers and event:
        for warning in api.notify(receivers, event):
            err(warning)


def _opened(registry: Registry) -> Registry:
    """Say so when nothing named a registry: the embedded default is rarely the one meant."""
    if registry.target.is_default:
        err(
            "note: no registry named (--tracking-uri, MLFLOW_TRACKING_URI or tracking_uri in "
            f"the manifest); using the embedded default {DEFAULT_TRACKING_URI}"
        )
    return registry


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlflow-gitops")
def cli() -> None:
    """GitOps for the MLflow Model Registry.

    registry.yaml declares which model version each alias points to; `plan` shows how the
    live registry differs, and `apply` makes it match. Promotions and rollbacks become
    reviewed pull requests.
    """


@cli.command()
@manifest_option
@format_option("text", "json", "github")
def validate(manifest_path: str, output_format: str) -> int:
    """Check the manifest offline. Exit 0 if valid, 1 if not."""
    console = console_for(output_format)
    try:
        loaded = api.validate(manifest_path)
    except ManifestError as exc:
        return console.invalid(exc, manifest_path)
    console.validated(loaded.warnings, manifest_path, len(loaded.manifest.models))
    return 0


@cli.command()
@manifest_option
@format_option("text", "json", "markdown", "github")
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are changes, 1 on error.",
)
@click.option("--out", "out_path", metavar="FILE", help="Save the plan as JSON for apply --plan.")
@click.option(
    "--target", "targets", multiple=True, metavar="MODEL[@ALIAS]",
    help="Plan (and apply) only this model, or this alias of it; repeatable. Problems "
    "elsewhere are warnings, and the rest of the manifest is not checked.",
)  # fmt: skip
@notify_option("a drift event when the plan has changes or errors")
@target_options
def plan(
    manifest_path: str,
    output_format: str,
    detailed_exitcode: bool,
    out_path: str | None,
    targets: tuple[str, ...],
    receivers: list[str],
    flags: api.TargetFlags,
) -> int:
    """Show how the live registry differs from the manifest. Writes nothing."""
    console = console_for(output_format)
    try:
        loaded = api.validate(manifest_path)
    except ManifestError as exc:
        console.refused(exc)  # github annotates the lines; then it fails as every format does
        raise
    console.warn(loaded.warnings)
    registry = _opened(api.open_registry(flags, loaded.manifest.tracking_uri, loaded.path))
    the_plan = api.plan(loaded, registry, targets=list(targets))
    if out_path:
        api.write_plan(the_plan, out_path)
    code = the_plan.exit_code(detailed_exitcode)
    console.plan(the_plan, code, out_path)
    _announce(receivers, api.plan_event(the_plan, manifest_path))
    return code


@cli.command()
@manifest_option
@click.option(
    "--plan", "plan_path", metavar="FILE",
    help="Apply exactly this saved plan; refused if it was edited, if the registry moved since "
    "it was made, or if it was made against another registry (or, with -f, another manifest).",
)  # fmt: skip
@format_option("text", "json", "markdown")
@click.option(
    "--auto-approve", is_flag=True,
    help="Apply without asking for `yes` on stdin (needed in CI). A saved plan never asks.",
)  # fmt: skip
@click.option(
    "--override-freeze", is_flag=True,
    help="Apply inside a freeze window; needs --reason, recorded in the audit tags.",
)  # fmt: skip
@click.option("--reason", metavar="TEXT", help="Why the freeze is overridden.")
@click.option(
    "--target", "targets", multiple=True, metavar="MODEL[@ALIAS]",
    help="Plan (and apply) only this model, or this alias of it; repeatable. Problems "
    "elsewhere are warnings, and the rest of the manifest is not checked.",
)  # fmt: skip
@notify_option("the apply's result (applied, failed, unknown or refused) when it had work")
@target_options
def apply(
    manifest_path: str,
    plan_path: str | None,
    output_format: str,
    auto_approve: bool,
    override_freeze: bool,
    reason: str | None,
    targets: tuple[str, ...],
    receivers: list[str],
    flags: api.TargetFlags,
) -> int:
    """Make the live registry match the manifest, then verify it. Exit 0 only if all applied."""
    reason = (reason or "").strip()
    if override_freeze != bool(reason):
        raise UsageError("--override-freeze and a non-empty --reason go together")
    override = api.FreezeOverride(reason) if override_freeze else None
    given = click.get_current_context().get_parameter_source("manifest_path")
    try:
        to_apply = api.plan_to_apply(
            manifest_path,
            plan_path,
            flags,
            manifest_given=given is not ParameterSource.DEFAULT,
            targets=list(targets),
        )
        the_plan, registry = to_apply.plan, _opened(to_apply.registry)
        console = console_for(output_format)
        console.warn(to_apply.warnings)
        # A saved plan was approved when it was reviewed, as Terraform's `apply PLANFILE`.
        if not console.before_apply(the_plan, auto_approve or plan_path is not None):
            return 1  # cancelled: not `yes`, end of input, or CI without --auto-approve
        halt = api.Halt()
        with _signals_halt(halt):
            report = api.apply(
                the_plan,
                registry,
                saved=plan_path is not None,
                halt=halt,
                override=override,
                sources=to_apply.sources,
            )
    except GitopsError as exc:  # main prints it; receivers hear that the apply did not happen
        _announce(receivers, api.error_event(exc, plan_path or manifest_path))
        raise
    console.applied(the_plan, report)
    _announce(receivers, api.apply_event(the_plan, report, the_plan.manifest_path or manifest_path))
    return report.exit_code


@contextlib.contextmanager
def _signals_halt(halt: api.Halt) -> Iterator[None]:
    """SIGINT or SIGTERM during apply: start no new writes, let in-flight ones finish, then
    read back, report and record what landed (apply exits 1)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, _frame: object) -> None:
        halt.set(f"interrupted by {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@cli.command(name="import")
@click.argument("models", nargs=-1)
@click.option("--all", "all_models", is_flag=True, help="Import every registered model.")
@click.option("-o", "--output", "output_path", metavar="FILE", help="Write here, not stdout.")
@click.option("--force", is_flag=True, help="Let -o overwrite an existing file.")
@click.option(
    "--name", metavar="NAME",
    help="The manifest's `name:` (who manages its models). Default: the git remote and the "
    "manifest's path in the repository (-o FILE, else registry.yaml); required without a remote.",
)  # fmt: skip
@target_options
def import_(
    models: tuple[str, ...],
    all_models: bool,
    output_path: str | None,
    force: bool,
    name: str | None,
    flags: api.TargetFlags,
) -> int:
    """Write a manifest declaring the live aliases of MODELS (or --all), to adopt a registry."""
    if not models and not all_models:
        raise UsageError("name at least one MODEL, or pass --all")
    if output_path and Path(output_path).exists() and not force:
        raise UsageError(f"{output_path} already exists; pass --force to overwrite it")
    registry = _opened(api.open_registry(flags, None))
    err(f"Registry: {api.registry_ref(registry).describe()}")
    manifest = api.import_(registry, list(models), all_models, output_path or "registry.yaml", name)
    if output_path:
        Path(output_path).write_text(manifest, encoding="utf-8")
        err(f"wrote {output_path}")
    else:
        out(manifest)
    return 0


@cli.command()
def schema() -> int:
    """Print the manifest's JSON Schema (shipped as registry.schema.json)."""
    out(json.dumps(json_schema()))
    return 0


def edit_options(command: Callable[..., int]) -> Callable[..., int]:
    """--offline and the git delivery options shared by promote and rollback."""

    @click.option(
        "--offline",
        is_flag=True,
        help="Skip checking that the version exists and is READY in the registry.",
    )
    @click.option("--commit", is_flag=True, help="Commit the change on a new branch.")
    @click.option(
        "--branch",
        metavar="NAME",
        help="Branch for --commit. Default: promote/MODEL-ALIAS-vVERSION (or rollback/...).",
    )
    @click.option("--push", is_flag=True, help="Push the branch (needs --commit).")
    @click.option(
        "--remote", default="origin", show_default=True, metavar="NAME", help="Remote for --push."
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any, commit: bool, branch: str | None, push: bool, remote: str, **kw: Any
    ) -> int:
        if (branch or push) and not commit:
            raise UsageError("--branch and --push need --commit")
        return command(*args, delivery=api.Delivery(commit, branch, push, remote), **kw)

    return wrapper


class VersionOrLatest(click.ParamType):
    """A positive version number, or `latest`: the newest READY version the alias accepts."""

    name = "VERSION|latest"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == "latest" or isinstance(value, int):
            return value
        if str(value).isdigit() and int(value) >= 1:
            return int(value)
        self.fail(f"{value!r} is not a positive version number or 'latest'", param, ctx)


@cli.command()
@click.argument("model")
@click.argument("alias")
@click.argument("version", type=VersionOrLatest(), required=False)
@click.option(
    "--from",
    "from_source",
    metavar="SOURCE[@ALIAS]",
    help="Copy what ALIAS (default: the same alias) holds in the source registry SOURCE now.",
)
@manifest_option
@edit_options
@target_options
def promote(
    model: str,
    alias: str,
    version: int | Literal["latest"] | None,
    from_source: str | None,
    manifest_path: str,
    offline: bool,
    delivery: api.Delivery,
    flags: api.TargetFlags,
) -> int:
    """Point MODEL@ALIAS at VERSION in the manifest, editing only that value.

    VERSION `latest` is the newest READY version, under the alias's track policy if it has one.
    With --from SOURCE[@ALIAS], it is a copy, {source: SOURCE, version: V}, where V is the
    version that ALIAS holds in the source registry now.
    """
    if (version is None) == (from_source is None):
        raise UsageError("give a VERSION or --from SOURCE[@ALIAS], not both")
    if from_source is not None:
        if offline:
            raise UsageError("--from reads the source registry; it cannot be --offline")
        source, _, source_alias = from_source.partition("@")
        edit = api.promote_copy(
            manifest_path,
            model,
            alias,
            source,
            source_alias=source_alias or None,
            delivery=delivery,
        )
        out(text.edit(edit))
        return 0
    assert version is not None
    edit = api.promote(
        manifest_path, model, alias, version, flags=flags, offline=offline, delivery=delivery
    )
    if edit.registry:
        err(f"Registry: {edit.registry.describe(edit.path)}")
    out(text.edit(edit))
    return 0


@cli.command()
@click.argument("model")
@click.argument("alias")
@click.option("--to", type=click.IntRange(min=1), metavar="VERSION", help="Roll back to VERSION.")
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    metavar="N",
    help="Go back N changes in the manifest's git history. Default: 1.",
)
@manifest_option
@edit_options
@target_options
def rollback(
    model: str,
    alias: str,
    to: int | None,
    steps: int | None,
    manifest_path: str,
    offline: bool,
    delivery: api.Delivery,
    flags: api.TargetFlags,
) -> int:
    """Point MODEL@ALIAS back at the version it had before, per the manifest's git history."""
    if to is not None and steps is not None:
        raise UsageError("--to and --steps exclude each other")
    edit = api.rollback(
        manifest_path,
        model,
        alias,
        to=to,
        steps=steps or 1,
        flags=flags,
        offline=offline,
        delivery=delivery,
    )
    if edit.registry:
        err(f"Registry: {edit.registry.describe(edit.path)}")
    out(text.edit(edit))
    return 0


@cli.command()
@click.argument("model", required=False)
@click.argument("alias", required=False)
@manifest_option
@click.option("--commit", is_flag=True, help="Commit each bump on its own new branch.")
@click.option("--push", is_flag=True, help="Push each bump's branch (needs --commit).")
@click.option(
    "--remote", default="origin", show_default=True, metavar="NAME", help="Remote for --push."
)
@format_option("text", "json")
@target_options
def update(
    model: str | None,
    alias: str | None,
    manifest_path: str,
    commit: bool,
    push: bool,
    remote: str,
    output_format: str,
    flags: api.TargetFlags,
) -> int:
    """Bump tracked aliases (see track:) to the newest matching READY version, forward only."""
    if push and not commit:
        raise UsageError("--push needs --commit")
    delivery = api.Delivery(commit=commit, push=push, remote=remote)
    updates = api.update(manifest_path, model, alias, flags=flags, delivery=delivery)
    if updates.registry:
        err(f"Registry: {updates.registry.describe(manifest_path)}")
    console_for(output_format).tracked(updates.aliases, manifest_path)
    return 0


@cli.command()
@click.argument("model", required=False)
@click.argument("alias", required=False)
@manifest_option
@format_option("text", "json")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Show at most N entries.")
def history(
    model: str | None, alias: str | None, manifest_path: str, output_format: str, limit: int | None
) -> int:
    """List every change of a declared alias in the manifest's git history, newest first."""
    entries, warnings = api.history(manifest_path, model, alias, limit)
    console = console_for(output_format)
    console.warn(f"warning: {warning}" for warning in warnings)
    console.history(entries)
    return 0


@cli.command()
@click.argument("model_alias", metavar="MODEL@ALIAS")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option(
    "--refresh", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
    metavar="SECONDS", help="How often to check where the alias points.",
)  # fmt: skip
@click.option(
    "--webhook-secret", envvar="MLFLOW_GITOPS_WEBHOOK_SECRET", metavar="SECRET",
    help="Enable POST /webhook for MLflow's signed alias webhooks (default: "
    "$MLFLOW_GITOPS_WEBHOOK_SECRET).",
)  # fmt: skip
@target_options
def serve(
    model_alias: str,
    host: str,
    port: int,
    refresh: float,
    webhook_secret: str | None,
    flags: api.TargetFlags,
) -> int:
    """Serve MODEL@ALIAS like `mlflow models serve`, following the alias as it moves."""
    from controller import serving

    serving.require_serving_libraries()
    registry = _opened(api.open_registry(flags, None))
    err(f"Registry: {api.registry_ref(registry).describe()}")
    target = registry.target
    return serving.serve(
        model_alias,
        host=host,
        port=port,
        refresh_interval=refresh,
        tracking_uri=target.tracking_uri,
        registry_uri=target.registry_uri,
        webhook_secret=webhook_secret,
    )


@cli.command()
@click.option(
    "--repo", required=True, metavar="URL",
    help="The git repository holding the manifests (https with a token, ssh, file://).",
)  # fmt: skip
@click.option("--branch", default="main", show_default=True, metavar="NAME")
@click.option(
    "--path", "paths", multiple=True, default=["registry.yaml"], show_default=True,
    metavar="FILE", help="A manifest inside the repository; repeatable.",
)  # fmt: skip
@click.option(
    "--interval", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
    metavar="SECONDS", help="How often to fetch and reconcile (hooks trigger sooner).",
)  # fmt: skip
@click.option("--self-heal", is_flag=True, help="Revert aliases changed by hand (drift).")
@click.option(
    "--listen", metavar="HOST:PORT",
    help="Serve /healthz, /readyz, /metrics, /api/status, the status page and the hooks.",
)  # fmt: skip
@click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path),
    default=Path(".mlflow-gitops-controller"), show_default=True,
    help="Where the clone and the last applied commits are kept.",
)  # fmt: skip
@click.option(
    "--allow-rewind", is_flag=True,
    help="Apply a branch head that does not descend from the last applied commit.",
)  # fmt: skip
@notify_option("an event on applied, failed, refused, drift and healed (once per commit)")
@click.option(
    "--log-format", type=click.Choice(LOG_FORMATS), default="json", show_default=True,
    help="One JSON object per line, or text for people.",
)  # fmt: skip
@click.option(
    "--max-heals-per-hour", type=click.IntRange(min=0), default=30, show_default=True,
    metavar="N", help="Stop healing after N heals in an hour (two writers fighting).",
)  # fmt: skip
@click.option(
    "--register-webhook", metavar="URL",
    help="Register MLflow's alias webhook on the registry, pointing at URL (this controller's "
    "/hooks/mlflow as MLflow reaches it), signed with $MLFLOW_GITOPS_WEBHOOK_SECRET.",
)  # fmt: skip
@target_options
def controller(
    repo: str,
    branch: str,
    paths: tuple[str, ...],
    interval: float,
    self_heal: bool,
    listen: str | None,
    state_dir: Path,
    allow_rewind: bool,
    receivers: list[str],
    log_format: LogFormat,
    max_heals_per_hour: int,
    register_webhook: str | None,
    flags: api.TargetFlags,
) -> int:
    """Keep the registry in sync with the manifests on a branch, continuously (Argo CD-style)."""
    # Here, not at the top: the daemon (its HTTP server, prometheus-client) is for this command
    # only, and every other command starts without loading it.
    from controller.daemon.loop import Settings
    from controller.daemon.service import run_controller

    if register_webhook and not os.environ.get("MLFLOW_GITOPS_WEBHOOK_SECRET"):
        raise UsageError("--register-webhook needs the secret in MLFLOW_GITOPS_WEBHOOK_SECRET")
    settings = Settings(
        repo=repo,
        branch=branch,
        paths=paths,
        interval=interval,
        self_heal=self_heal,
        state_dir=state_dir,
        allow_rewind=allow_rewind,
        max_heals_per_hour=max_heals_per_hour,
        register_webhook=register_webhook,
        flags=flags,
    )
    return run_controller(settings, listen=listen, log_format=log_format, receivers=receivers)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI, turning every expected failure into one clear line and exit code 1."""
    configure_process()
    try:
        return int(cli.main(args=argv, prog_name="mlflow-gitops", standalone_mode=False) or 0)
    except GitopsError as exc:
        for line in exc.lines():
            err(line)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        err("aborted")
    except click.ClickException as exc:
        err(f"error: {exc.format_message()}")
    except OSError as exc:
        err(f"error: {exc.filename or ''}: {exc.strerror}")
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: keep secrets out and the traceback behind a switch
        err(f"internal error: {type(exc).__name__}: {exc}")
        if os.environ.get("MLFLOW_GITOPS_DEBUG"):
            err(traceback.format_exc())
    return 1
