"""promote and rollback, a person's move of one alias: refuse early, edit one manifest line
(edit.py changes the text), verify the edit, commit, push. update.py is the bot's move.

The manifest is loaded once per request; git is checked before anything is written, and the
registry (unless offline) before the file is touched.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from controller import commit_message
from controller.commit_message import EditKind
from controller.edit import set_alias
from controller.errors import (
    EditError,
    GitError,
    PromotionError,
    RegistryError,
    RegistryUnreachable,
)
from controller.gitops import check_can_commit, commit_on_new_branch, manifest_revisions, push
from controller.history import alias_changes, select
from controller.manifest import (
    CopyFrom,
    LoadedManifest,
    ModelSpec,
    check_model_name,
    load_manifest,
    parse_manifest,
)
from controller.output import redact
from controller.plan import version_problem
from controller.policy import TrackPolicy, check_alias_name
from controller.registry import Registry, open_registry, registry_ref
from controller.registry.sources import open_source
from controller.suggest import did_you_mean
from controller.target import TargetFlags
from controller.tracking import newest_match, wanted
from controller.values import AliasEdit


@dataclass(frozen=True)
class Delivery:
    """What happens to the edited manifest besides saving it: a commit on a branch, a push."""

    commit: bool = False
    branch: str | None = None
    push: bool = False
    remote: str = "origin"


@dataclass(frozen=True)
class AliasRequest:
    """One alias edit, as promote or rollback asks for it."""

    kind: EditKind
    model: str
    alias: str
    version: int
    # The registry that checks the version is READY; None: offline, nothing is checked.
    registry: Registry | None = None
    # The version was just read as READY (`latest`): the registry is named, not asked again.
    version_checked: bool = False
    # A copy (`promote --from`): written instead of the version, which is the source's number.
    copy: CopyFrom | None = None
    delivery: Delivery = field(default_factory=Delivery)

    @property
    def branch(self) -> str:
        default = f"{self.kind}/{branch_stem(self.model, self.alias)}-v{self.version}"
        return self.delivery.branch or default


def promote(
    path: str,
    model: str,
    alias: str,
    version: int | Literal["latest"],
    *,
    flags: TargetFlags,
    offline: bool = False,
    delivery: Delivery = Delivery(),
) -> AliasEdit:
    """Point MODEL@ALIAS at VERSION (or the newest matching one) in the manifest."""
    try:
        check_model_name(model)
        check_alias_name(alias)
    except ValueError as exc:
        raise PromotionError(str(exc)) from None
    loaded = load_manifest(path)
    registry = _registry(loaded, flags, offline)
    checked = version == "latest"
    if version == "latest":
        version = newest_version(loaded, model, alias, registry)
    request = AliasRequest(
        "promote", model, alias, version, registry, version_checked=checked, delivery=delivery
    )
    return edit_alias(loaded, request)


def promote_copy(
    path: str,
    model: str,
    alias: str,
    source: str,
    *,
    source_alias: str | None = None,
    delivery: Delivery = Delivery(),
) -> AliasEdit:
    """Point MODEL@ALIAS at a copy of what SOURCE_ALIAS (default: ALIAS) holds in the source
    registry now: `{source: SOURCE, version: V}`. Refused when the source has no such alias."""
    try:
        check_model_name(model)
        check_alias_name(alias)
        check_alias_name(source_alias or alias)
    except ValueError as exc:
        raise PromotionError(str(exc)) from None
    loaded = load_manifest(path)
    declared = loaded.manifest.sources.get(source)
    if declared is None:
        known = ", ".join(sorted(loaded.manifest.sources)) or "none are declared"
        raise PromotionError(f"--from {source}: no such source under sources in {path} ({known})")
    wanted = source_alias or alias
    registry = open_source(source, declared.tracking_uri)
    try:
        version = registry.alias_version(model, wanted)
    except RegistryError as exc:
        raise PromotionError(f"--from {source}: {exc}") from None
    if version is None:
        raise PromotionError(
            f"source {source!r} ({redact(declared.tracking_uri)}) has no {model}@{wanted}; "
            "nothing was edited"
        )
    request = AliasRequest(
        "promote",
        model,
        alias,
        version,
        delivery=delivery,
        copy=CopyFrom(source=source, version=version),
    )
    return edit_alias(loaded, request)


def _registry(loaded: LoadedManifest, flags: TargetFlags, offline: bool) -> Registry | None:
    """The registry that checks versions; none offline."""
    return None if offline else open_registry(flags, loaded.manifest.tracking_uri, loaded.path)


def newest_version(
    loaded: LoadedManifest, model: str, alias: str, registry: Registry | None
) -> int:
    """`latest`: the newest READY version, under the alias's track policy if it has one."""
    if registry is None:
        raise PromotionError("`latest` is looked up in the registry; name a version with --offline")
    spec = loaded.manifest.models.get(model)
    policy = spec.track.get(alias, TrackPolicy()) if spec else TrackPolicy()
    try:
        versions = registry.read_versions([model]).get(model, [])
    except RegistryUnreachable as exc:
        raise PromotionError(f"{exc}; `latest` needs the registry") from None
    found = newest_match(versions, policy)
    if found is None:
        raise PromotionError(f"no {wanted(policy)} of model {model!r} in the registry")
    return found


def rollback(
    path: str,
    model: str,
    alias: str,
    *,
    to: int | None = None,
    steps: int = 1,
    flags: TargetFlags,
    offline: bool = False,
    delivery: Delivery = Delivery(),
) -> AliasEdit:
    """Point MODEL@ALIAS back at `to`, or at its value `steps` changes ago in git history."""
    loaded = load_manifest(path)
    spec = loaded.manifest.models.get(model)
    if spec is None:
        raise PromotionError(
            f"{path} declares no model {model!r}{did_you_mean(model, loaded.manifest.models)}"
        )
    if alias not in spec.aliases:
        raise PromotionError(
            f"{path} declares no alias {alias!r} for model {model!r}"
            f"{did_you_mean(alias, spec.aliases)}"
        )
    if to is None:
        current = spec.aliases[alias]
        if isinstance(current, CopyFrom):
            raise PromotionError(
                f"{model}@{alias} is a copy ({current.named(model)}); name the version "
                "to roll back to with --to"
            )
        to = _earlier_version(path, model, alias, current, steps)
    registry = _registry(loaded, flags, offline)
    request = AliasRequest("rollback", model, alias, to, registry, delivery=delivery)
    return edit_alias(loaded, request)


def _earlier_version(path: str, model: str, alias: str, current: int | None, steps: int) -> int:
    entries, _ = alias_changes(manifest_revisions(path))
    entries = select(entries, model, alias, None)
    earlier = [entry.from_version for entry in entries]
    if entries and entries[0].to_version != current:  # edited since the last commit
        earlier.insert(0, entries[0].to_version)
    found = earlier[steps - 1] if len(earlier) >= steps else None
    if found is None:
        raise PromotionError(
            f"{model}@{alias} has no earlier value {steps} change(s) back "
            f"in the git history of {path}"
        )
    return found


def edit_alias(loaded: LoadedManifest, request: AliasRequest) -> AliasEdit:
    """Refuse early (git, then registry), then edit, verify, write, and commit and push."""
    path, model, alias, version = loaded.path, request.model, request.alias, request.version
    spec = loaded.manifest.models.get(model)
    declared = spec.aliases.get(alias) if spec else None
    current = declared if isinstance(declared, int) else None  # a copy's is another model's
    wanted: int | CopyFrom = request.copy or version
    shown = request.copy.named(model) if request.copy else str(version)
    if declared == wanted:
        raise PromotionError(f"{model}@{alias} is already {shown} in {path}")
    delivery = request.delivery
    if delivery.commit:
        check_can_commit(path, request.branch, delivery.remote if delivery.push else None)
    registry = None
    if request.registry is not None:
        if not request.version_checked:
            require_ready_version(request.registry, model, version, loaded.manifest.models)
        registry = registry_ref(request.registry)
    # Bytes, not read_text(): universal newlines would turn CRLF files into LF ones.
    written = _flow_copy(request.copy) if request.copy else version
    text = set_alias(Path(path).read_bytes().decode("utf-8"), model, alias, written)
    _verify_edit(loaded, text, model, alias, wanted)
    Path(path).write_bytes(text.encode("utf-8"))
    edit = AliasEdit(
        path=path,
        model=model,
        alias=alias,
        from_version=current,
        to_version=version,
        to_copy=request.copy.named(model) if request.copy else None,
        registry=registry,
    )
    if not delivery.commit:
        return edit
    to = f"{edit.to_copy} (copy)" if edit.to_copy else version
    message = commit_message.write(request.kind, model, alias, current, to)
    sha = commit_on_new_branch(path, request.branch, message)
    try:
        url = push(path, delivery.remote, request.branch) if delivery.push else None
    except GitError as exc:
        raise GitError(
            f"{exc}; the change is committed ({sha[:12]}) on the local branch "
            f"{request.branch!r}, checked out now: push it with `git push --set-upstream "
            f"{delivery.remote} {request.branch}`, or drop it with `git switch - && git branch "
            f"-D {request.branch}`"
        ) from None
    return edit.model_copy(
        update={"branch": request.branch, "commit": sha, "pull_request_url": url}
    )


def ref_part(name: str) -> str:
    """A name made safe for a branch name: anything but [A-Za-z0-9._-] becomes `-`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def branch_stem(model: str, alias: str) -> str:
    """`MODEL-ALIAS`, one per (model, alias): two aliases never share a branch.

    Cleaning (`fraud model` and `fraud-model`) and the joining dash (`a`@`b-c` and `a-b`@`c`)
    can both map two aliases to one name; then a short hash of the exact pair is added. A
    plain stem has exactly one dash and a hashed one at least two, so the two kinds never meet.
    """
    stem = f"{ref_part(model)}-{ref_part(alias)}"
    if ref_part(model) == model and ref_part(alias) == alias and "-" not in model + alias:
        return stem
    exact = hashlib.sha256(json.dumps([model, alias]).encode()).hexdigest()[:8]
    return f"{stem}-{exact}"


def _flow_copy(copy: CopyFrom) -> str:
    """`{source: staging, version: 7}`: a copy as one line of the manifest."""
    parts = [f"source: {copy.source}"] if copy.source else []
    if copy.model is not None:
        parts.append(f"model: {json.dumps(copy.model)}")
    return "{" + ", ".join([*parts, f"version: {copy.version}"]) + "}"


def _verify_edit(
    before: LoadedManifest, text: str, model: str, alias: str, value: int | CopyFrom
) -> None:
    """Read the edit back: exactly one alias may differ, or nothing is written."""
    expected = before.manifest.model_dump()
    spec = expected["models"].setdefault(model, ModelSpec().model_dump())
    spec["aliases"][alias] = value.model_dump() if isinstance(value, CopyFrom) else value
    if parse_manifest(text, before.path).manifest.model_dump() != expected:
        raise EditError(f"could not edit {before.path} safely; edit it by hand")


def require_ready_version(
    registry: Registry, model: str, version: int, declared: Iterable[str] = ()
) -> None:
    """Refuse a version the registry does not hold as READY; unreachable needs --offline.
    A model the registry does not know is compared with the `declared` names (a typo?)."""
    try:
        state = registry.read_state([model])
    except RegistryUnreachable as exc:
        raise PromotionError(f"{exc}; pass --offline to skip the version check") from None
    live = state.models.get(model)
    if model in state.denied:
        raise PromotionError(f"permission denied reading registered model {model!r}")
    if live is None:
        raise PromotionError(
            f"no registered model named {model!r} in the registry{did_you_mean(model, declared)}"
        )
    problem = version_problem(live, version)
    if problem:
        raise PromotionError(problem)
