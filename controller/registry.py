"""The only module that imports mlflow: turns the registry into plain data, and changes into writes.

mlflow is imported lazily (it takes about 2 s), so commands that never touch the registry
stay fast. Reads are batched: a few searches per 100 models, never one call per alias.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.errors import (
    ModelNotFound,
    RegistryError,
    RegistryPermissionDenied,
    RegistryUnreachable,
)
from controller.evidence import Logged, history_reads, parse_mlmodel, with_metrics
from controller.output import redact, remember_uri_credentials
from controller.ownership import OWNER_TAG
from controller.state import (
    LAST_APPLIED_TAG,
    LastApplied,
    LiveModel,
    LiveState,
    LiveVersion,
    normalize_version,
)
from controller.target import (
    EMBEDDED_EXTRA,
    RegistryTarget,
    is_sql_store,
    require_existing_store,
    ui_base,
)
from controller.values import RawVersion, Signature

if TYPE_CHECKING:
    from mlflow import MlflowClient

NAMES_PER_SEARCH = 100
VERSIONS_PAGE_SIZE = 10_000
FALLBACK_READ_THREADS = 8
PARALLEL_WRITES = 4
EVIDENCE_READ_THREADS = 8
LOGGED_MODEL_SOURCE = re.compile(r"^models:/m-[0-9a-f]+$")

# MLflow's own HTTP layer (urllib3's Retry) retries resets, timeouts and 408/429/500/502/503/
# 504 with exponential backoff and jitter, honouring Retry-After; by default for minutes. The
# CLI bounds it: 3 attempts of at most 5 s each, backoff sleeps 0 s then 2 s plus up to 0.5 s
# jitter each, so one request gives up within 18 s. A server's Retry-After replaces a backoff
# sleep, honoured up to RETRY_AFTER_MAX_S (urllib3's own cap is 6 hours, and MLflow sets none,
# so one `Retry-After: 3600` would hold a CI job for an hour): within 25 s then.
# Users can still override these through MLflow's own environment variables.
FAST_FAIL_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}
RETRY_AFTER_MAX_S = 5
NOISY_LOGGERS = ("mlflow", "urllib3", "alembic")
# An error message is cut here: MLflow echoes whole filters, which run to many kilobytes.
MAX_MESSAGE_CHARS = 300
# What MLflow's filter syntax cannot carry inside a quoted value: it has no escapes, and it
# reads a backslash as one.
_UNFILTERABLE = re.compile(r"[\\\r\n]")


class _Process:
    """What the entry point asked of this process; read when mlflow is first used."""

    cap_retry_after = False


def configure_process() -> None:
    """Fail fast and quietly: for the CLI's process only, never imposed on a library caller.

    MLflow reads its retry settings from the environment on each request, so there is no
    client parameter to pass them through. The Retry-After cap is applied when a registry
    client is first made, so the offline commands never import mlflow.
    """
    for name, value in FAST_FAIL_DEFAULTS.items():
        os.environ.setdefault(name, value)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.ERROR)
    _Process.cap_retry_after = True


def _cap_retry_after() -> None:
    """MLflow builds urllib3's Retry without `retry_after_max`; give it one. Where urllib3
    has no such parameter, Retry-After is not honoured at all rather than uncapped."""
    from mlflow.utils import request_utils

    honoured: Any = request_utils.Retry
    if getattr(honoured, "capped_at", None) == RETRY_AFTER_MAX_S:
        return
    if "retry_after_max" not in inspect.signature(honoured.__init__).parameters:
        os.environ.setdefault("MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER", "false")
        return

    class CappedRetry(honoured):
        capped_at = RETRY_AFTER_MAX_S

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("retry_after_max", RETRY_AFTER_MAX_S)
            super().__init__(*args, **kwargs)

    request_utils.Retry = CappedRetry  # type: ignore[misc]


def _first_line(text: str) -> str:
    """The message's first line, redacted and cut short: never a whole echoed filter."""
    line = redact(text.strip().splitlines()[0] if text.strip() else text)
    if len(line) <= MAX_MESSAGE_CHARS:
        return line
    return f"{line[:MAX_MESSAGE_CHARS]}... ({len(line) - MAX_MESSAGE_CHARS} more characters)"


# urllib3's words for a status that was still failing when the retries ran out.
_RETRIED_STATUS = re.compile(r"too many (\d{3}) error responses")
_STATUS_IN_TEXT = re.compile(r"error code (\d{3})")
# No connection at all: refused, timed out, or no such host. Only these stop further writes.
_UNREACHABLE = (
    "connection refused",
    "failed to establish a new connection",
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "timed out",
    "timeout",
)
# A connection that broke mid-exchange: the server may or may not have acted on the request.
_BROKEN = ("connection reset", "connection aborted", "remotedisconnected", "incompleteread")


def _http_status(exc: Exception, message: str) -> int | None:
    found = _RETRIED_STATUS.search(message) or _STATUS_IN_TEXT.search(message)
    if found:
        return int(found.group(1))
    if getattr(exc, "error_code", None) and hasattr(exc, "get_http_status_code"):
        return int(exc.get_http_status_code())
    return None


def _translate(exc: Exception, target: RegistryTarget, operation: str) -> RegistryError:
    """Map MLflow/requests failures onto the few kinds a user can act on, naming the operation
    (for writes; reads leave it empty) and the HTTP status, so a failure says what and how."""
    where = redact(target.registry_uri)
    lead = f"{operation}: " if operation else ""
    error_code = str(getattr(exc, "error_code", ""))
    message = str(exc)
    lowered = message.lower()
    status = _http_status(exc, message)
    if (
        error_code in ("PERMISSION_DENIED", "UNAUTHENTICATED")
        or status in (401, 403)
        or "permission denied" in lowered
    ):
        return RegistryPermissionDenied(
            f"{lead}permission denied by the MLflow registry at {where}"
            f"{f' (HTTP {status})' if status else ''}: {_first_line(message)}"
        )
    if error_code == "RESOURCE_DOES_NOT_EXIST":
        return ModelNotFound(_first_line(message))
    if _RETRIED_STATUS.search(message) and status is not None:
        return RegistryError(f"{lead}HTTP {status} from the MLflow registry at {where}")
    if any(marker in lowered for marker in _BROKEN):
        return RegistryError(
            f"{lead}the connection to the MLflow registry at {where} broke before a reply"
        )
    if any(marker in lowered for marker in _UNREACHABLE) or "max retries exceeded" in lowered:
        return RegistryUnreachable(f"{lead}cannot reach the MLflow registry at {where}")
    code = f"HTTP {status} from " if status else ""
    return RegistryError(f"{lead}{code}MLflow registry at {where}: {_first_line(message)}")


def filterable(name: str) -> bool:
    """Whether a search filter can name this model exactly; if not, it is read directly."""
    return not (("'" in name and '"' in name) or _UNFILTERABLE.search(name))


def _quote(name: str) -> str:
    quote = '"' if "'" in name else "'"
    return f"{quote}{name}{quote}"


def _like_any(name: str) -> str:
    """A LIKE pattern matching `name` and maybe a few more: `_` stands in for what no filter
    can carry, and the caller keeps only the exact name."""
    return "'" + re.sub(r"['\\\r\n]", "_", name) + "'"


def _name_filters(names: list[str], per_search: int) -> Iterator[tuple[list[str], str]]:
    """`name IN (...)` filters over chunks of names, short enough for a GET query string."""
    for start in range(0, len(names), per_search):
        chunk = names[start : start + per_search]
        yield chunk, f"name IN ({','.join(_quote(n) for n in chunk)})"


def _paginate(search: Callable[..., Any]) -> Iterator[Any]:
    token = None
    while True:
        page = search(page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def require_sql_store_support(target: RegistryTarget) -> None:
    """mlflow-skinny talks to servers only; a database URI needs the extra with full mlflow.

    Checked before MLflow is imported, so the user reads what to install, not MLflow's
    "unsupported URI" list of schemes.
    """
    for uri in dict.fromkeys((target.registry_uri, target.tracking_uri)):
        if is_sql_store(uri) and importlib.util.find_spec("sqlalchemy") is None:
            raise RegistryError(
                f"the registry {redact(uri)} is a database, which needs full MLflow: "
                f"install {EMBEDDED_EXTRA}, or point --tracking-uri at an MLflow server"
            )


class Registry:
    """A connection to one MLflow registry, exposing only what the controller needs."""

    def __init__(
        self,
        target: RegistryTarget,
        names_per_search: int = NAMES_PER_SEARCH,
        *,
        may_create: bool = False,
    ) -> None:
        self.target = target
        self.names_per_search = names_per_search
        # Only apply against the embedded default may create a local store; reads never do.
        self.may_create = may_create
        for uri in (target.tracking_uri, target.registry_uri):  # a server may echo them
            remember_uri_credentials(uri)
        self._client: MlflowClient | None = None

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            require_sql_store_support(self.target)
            require_existing_store(self.target, may_create=self.may_create)
            with self._errors(""):
                if _Process.cap_retry_after:
                    _cap_retry_after()
                from mlflow import MlflowClient

                self._client = MlflowClient(
                    tracking_uri=self.target.tracking_uri,
                    registry_uri=self.target.registry_uri,
                )
        return self._client

    @property
    def _registry_client(self) -> Any:
        """MLflow's registry client, for writes and per-version reads: `MlflowClient` checks
        before each of them that the model is not a prompt, one extra GET each. The plan found
        every model it touches through search, which does not return prompts, so the check is
        spent twice. (A private accessor: mlflow is pinned to 3.17.x; a test counts requests.)"""
        return self.client._get_registry_client()

    @property
    def max_parallel_writes(self) -> int:
        """SQLite takes one writer at a time: parallel writes there only fight for the lock."""
        return 1 if self.target.registry_uri.startswith("sqlite:") else PARALLEL_WRITES

    @contextmanager
    def _errors(self, operation: str = "") -> Iterator[None]:
        try:
            yield
        except RegistryError:
            raise
        except Exception as exc:  # MLflow raises many types; all become one of ours.
            raise _translate(exc, self.target, operation) from None

    # Reads -----------------------------------------------------------------------------

    def read_state(
        self, names: Iterable[str], known: Mapping[str, LiveModel] | None = None
    ) -> LiveState:
        """Aliases, tags and version statuses of the named models, batched.

        Models in `known` (just read by another search, e.g. `read_owned`) are not searched
        for again; their versions are. A name the searches do not return is read directly,
        which tells a model these credentials may not see apart from one that does not exist.
        """
        wanted = sorted(set(names))
        if not wanted:
            return LiveState()
        known = known or {}
        with self._errors(""):
            found = {n: known[n] for n in wanted if n in known}
            searched = self._search_models([n for n in wanted if filterable(n) and n not in known])
            if searched and not any(model.aliases for model in searched.values()):
                searched = self._recover_missing_aliases(searched)
            found |= searched
            direct, denied = self._read_directly([n for n in wanted if n not in found])
            found |= direct
            versions = self._search_versions(sorted(n for n in found if filterable(n)))
            for name in (n for n in found if not filterable(n)):
                versions[name] = self._versions_of(name)
        return LiveState(
            models={
                name: replace(model, versions=versions.get(name, {}))
                for name, model in found.items()
            },
            denied=frozenset(denied),
        )

    def read_owned(self, owner: str) -> dict[str, LiveModel]:
        """Every model whose owner tag names `owner`: one search, however many there are."""
        found: dict[str, LiveModel] = {}
        with self._errors():
            search = partial(
                self.client.search_registered_models,
                filter_string=f"tags.`{OWNER_TAG}` = {_quote(owner)}",
                max_results=1000,
            )
            for registered in _paginate(search):
                found[registered.name] = _live_model(registered)
            if found and not any(model.aliases for model in found.values()):
                found = self._recover_missing_aliases(found)  # else removals would be missed
        return found

    def _search_models(self, names: list[str]) -> dict[str, LiveModel]:
        found: dict[str, LiveModel] = {}
        for chunk, filter_string in _name_filters(names, self.names_per_search):
            search = partial(
                self.client.search_registered_models,
                filter_string=filter_string,
                max_results=len(chunk),
            )
            for registered in _paginate(search):
                found[registered.name] = _live_model(registered)
        return found

    def _read_directly(self, names: list[str]) -> tuple[dict[str, LiveModel], list[str]]:
        """Models by name, one call each: found, and those the registry refused to show."""

        def read(name: str) -> LiveModel | RegistryPermissionDenied | None:
            try:
                with self._errors():
                    return _live_model(self.client.get_registered_model(name))
            except ModelNotFound:
                return None
            except RegistryPermissionDenied as exc:
                return exc

        if not names:
            return {}, []
        with ThreadPoolExecutor(max_workers=FALLBACK_READ_THREADS) as pool:
            results = dict(zip(names, pool.map(read, names), strict=True))
        found = {n: r for n, r in results.items() if isinstance(r, LiveModel)}
        denied = [n for n, r in results.items() if isinstance(r, RegistryPermissionDenied)]
        return found, denied

    def _recover_missing_aliases(self, found: dict[str, LiveModel]) -> dict[str, LiveModel]:
        """Some registries omit aliases from search (MLflow issue 16734): probe, then fall back."""
        probe = next(iter(found))
        if not _live_model(self.client.get_registered_model(probe)).aliases:
            return found
        with ThreadPoolExecutor(max_workers=FALLBACK_READ_THREADS) as pool:
            models = pool.map(lambda n: _live_model(self.client.get_registered_model(n)), found)
            return {model.name: model for model in models}

    def _search_versions(self, names: list[str]) -> dict[str, dict[int, str]]:
        versions: dict[str, dict[int, str]] = {}
        for version in self._all_versions(names):
            versions.setdefault(version.name, {})[int(version.version)] = str(version.status)
        return versions

    def _all_versions(self, names: list[str]) -> Iterator[Any]:
        """Every version of the named models: one paginated search per chunk of names."""
        for _, filter_string in _name_filters(names, self.names_per_search):
            search = partial(
                self.client.search_model_versions,
                filter_string=filter_string,
                max_results=VERSIONS_PAGE_SIZE,
            )
            yield from _paginate(search)

    def read_versions(self, names: Iterable[str]) -> dict[str, list[LiveVersion]]:
        """Status and tags of every version of the named models, for tracking policies."""
        versions: dict[str, list[LiveVersion]] = {}
        with self._errors():
            for version in self._all_versions(sorted(set(names))):
                versions.setdefault(version.name, []).append(
                    LiveVersion(
                        version=int(version.version),
                        status=str(version.status),
                        tags={str(k): str(v) for k, v in (version.tags or {}).items()},
                    )
                )
        return versions

    def _versions_of(self, name: str) -> dict[int, str]:
        """Versions of a model no filter can name exactly: a LIKE search, then the exact name."""
        search = partial(
            self.client.search_model_versions,
            filter_string=f"name LIKE {_like_any(name)}",
            max_results=VERSIONS_PAGE_SIZE,
        )
        return {
            int(version.version): str(version.status)
            for version in _paginate(search)
            if version.name == name
        }

    def read_all_model_names(self) -> list[str]:
        """Every registered model's name, for `import --all`."""
        with self._errors(""):
            return sorted(
                registered.name
                for registered in _paginate(
                    partial(self.client.search_registered_models, max_results=1000)
                )
            )

    def read_evidence(
        self,
        wanted: Iterable[tuple[str, int]],
        gated: Mapping[tuple[str, int], Iterable[str]],
    ) -> dict[tuple[str, int], RawVersion]:
        """Facts about the named versions: one read per version, one per run, in parallel.

        Per distinct version: `model-versions/get`, `model-versions/get-download-uri` (MLflow's
        client adds a `registered-models/get` to it) and a download of the `MLmodel` file alone,
        never the model. Per distinct run: `runs/get`, plus `metrics/get-history` for each
        metric a gate reads of a version of that run (`gated`), to judge it as it stood at the
        registration; a version without a run reads its MLflow 3 logged model
        (`logged-models/get`) for metrics instead.
        """
        keys = sorted(set(wanted))
        if not keys:
            return {}
        ui = ui_base(self.target.registry_uri)
        with self._errors():
            self.client  # noqa: B018 -- create it once, before the threads share it
        with self._errors(), ThreadPoolExecutor(max_workers=EVIDENCE_READ_THREADS) as pool:
            versions = dict(
                zip(keys, pool.map(lambda k: self._read_version(*k), keys), strict=True)
            )
            runs = sorted({v.run_id for v in versions.values() if v.run_id})
            facts = dict(zip(runs, pool.map(self._run_metrics, runs), strict=True))
            asked = history_reads(versions, facts, gated)
            histories = dict(
                zip(asked, pool.map(lambda a: self._metric_history(*a), asked), strict=True)
            )
            logged = sorted({v.model_id for v in versions.values() if v.model_id and not v.run_id})
            points = dict(zip(logged, pool.map(self._logged_model_metrics, logged), strict=True))
        return {
            key: with_metrics(
                version.model_copy(update={"run_url": _run_url(ui, version.run_id)}),
                facts,
                histories,
                points,
                gated.get(key, ()),
            )
            for key, version in versions.items()
        }

    def _read_version(self, model: str, version: int) -> RawVersion:
        found = self.client.get_model_version(model, str(version))
        source = str(found.source or "")
        model_id = found.model_id or (
            source.removeprefix("models:/") if LOGGED_MODEL_SOURCE.match(source) else None
        )
        has_signature, signature = self._signature(model, version)
        return RawVersion(
            model=model,
            version=version,
            created_ms=found.creation_timestamp,
            creator=found.user_id or None,
            description=found.description or None,
            status=str(found.status),
            tags=dict(found.tags or {}),
            run_id=found.run_id or None,
            model_id=model_id,
            has_signature=has_signature,
            signature=signature,
        )

    def _signature(self, model: str, version: int) -> tuple[bool | None, Signature | None]:
        """Read the MLmodel file alone; an unreadable one is `None` (unknown), not an error."""
        try:
            from mlflow.artifacts import download_artifacts

            uri = self._registry_client.get_model_version_download_uri(model, str(version))
            with tempfile.TemporaryDirectory() as folder:
                path = download_artifacts(artifact_uri=f"{uri}/MLmodel", dst_path=folder)
                text = Path(path).read_text(encoding="utf-8")
            signature = parse_mlmodel(text)
        except Exception:  # missing file, unreachable store, no S3 client: unknown, not fatal
            return None, None
        return signature is not None, signature

    def _run_metrics(self, run_id: str) -> tuple[dict[str, float], bool]:
        """The run's latest metrics, and whether the run is deleted (or purged)."""
        try:
            found = self.client.get_run(run_id)
        except Exception as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")):
                return {}, True  # purged: the version stays, its metrics are gone
            raise
        return dict(found.data.metrics), found.info.lifecycle_stage == "deleted"

    def _metric_history(self, run_id: str, name: str) -> list[Logged]:
        return [
            (float(m.value), int(m.step), int(m.timestamp))
            for m in self.client.get_metric_history(run_id, name)
        ]

    def _logged_model_metrics(self, model_id: str) -> dict[str, list[Logged]]:
        """Every value the logged model holds, by metric name."""
        try:
            found = self.client.get_logged_model(model_id)
        except Exception as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")):
                return {}
            raise
        by_name: dict[str, list[Logged]] = {}
        for m in found.metrics or []:
            by_name.setdefault(m.key, []).append((float(m.value), int(m.step), int(m.timestamp)))
        return by_name

    # Writes ----------------------------------------------------------------------------

    def set_alias(self, model: str, alias: str, version: int) -> None:
        with self._errors(f"set alias {model}@{alias} -> {version}"):
            self._registry_client.set_registered_model_alias(model, alias, str(version))

    def delete_alias(self, model: str, alias: str) -> None:
        with self._errors(f"delete alias {model}@{alias}"):
            self._registry_client.delete_registered_model_alias(model, alias)

    def write_last_applied(self, model: str, last_applied: LastApplied) -> None:
        """Parts first, the head last: the head is what makes a new record visible."""
        with self._errors(f"record last-applied on {model}"):
            for key, value in last_applied.to_tags().items():
                self._registry_client.set_registered_model_tag(model, key, value)

    def tag_version(self, model: str, version: int, key: str, value: str) -> None:
        with self._errors(f"tag {model} version {version}"):
            self._registry_client.set_model_version_tag(model, str(version), key, value)

    def write_owner(self, model: str, owner: str) -> None:
        with self._errors():
            self._registry_client.set_registered_model_tag(model, OWNER_TAG, owner)

    def forget(self, model: str) -> None:
        """Drop the owner and last-applied records: the model is no longer managed."""
        for key in (OWNER_TAG, LAST_APPLIED_TAG):
            with contextlib.suppress(ModelNotFound), self._errors():  # already gone: fine
                self._registry_client.delete_registered_model_tag(model, key)


def _run_url(ui: str | None, run_id: str | None) -> str | None:
    """The run's page in the MLflow UI; the experiment-less route redirects to it."""
    if not ui or not run_id:
        return None
    return f"{ui}/#/runs/{run_id}"


def _live_model(registered: Any) -> LiveModel:
    aliases = {
        str(alias): normalize_version(version)
        for alias, version in (registered.aliases or {}).items()
    }
    tags = registered.tags or {}
    return LiveModel(
        name=registered.name,
        aliases=aliases,
        last_applied=LastApplied.from_tags(tags),
        owner=tags.get(OWNER_TAG),
    )
