"""The registry's state as plain data: aliases, owner and last-applied tags, versions.

Reads are batched: a few searches per 100 models, never one call per alias. MLflow 2.x servers
take one name per search filter; there, the reads search model by model, in parallel.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any

from controller.errors import ModelNotFound, RegistryPermissionDenied
from controller.ownership import OWNER_TAG
from controller.registry import mlflow_private
from controller.registry.client import Connection
from controller.registry.errors import rejects_name_lists
from controller.registry.filters import filterable, like_any, name_filters, paginate, quote
from controller.state import (
    LAST_APPLIED_TAG,
    LastApplied,
    LiveModel,
    LiveState,
    LiveVersion,
    VersionFacts,
    normalize_version,
)

VERSIONS_PAGE_SIZE = 10_000
MODELS_PAGE_SIZE = 1_000  # the most registered models an MLflow search returns at once
FALLBACK_READ_THREADS = 8
STATE_READ_THREADS = 4
# On a server that takes one name per filter, up to this many models are searched one by one
# (8 at a time); for more, paging through every model and version is fewer requests.
SINGLE_NAME_SEARCHES_MAX = 100


class StateReads(Connection):
    """Batched reads of models and versions."""

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
            facts = self._search_versions(sorted(n for n in found if filterable(n)))
            for name in (n for n in found if not filterable(n)):
                facts[name] = self._versions_of(name)
        return LiveState(
            models={
                name: replace(
                    model,
                    versions={v: f.status for v, f in facts.get(name, {}).items()},
                    facts=facts.get(name, {}),
                )
                for name, model in found.items()
            },
            denied=frozenset(denied),
        )

    def read_owned(self, owner: str) -> dict[str, LiveModel]:
        """Every model `owner` manages, in one search however many there are: the last-applied
        record naming the owner. Every apply since ownership exists writes the owner into the
        record (a first apply writes only the record: one write per model, not two).

        The search is a LIKE pattern that may match a few more; only models whose owner (the
        owner tag where present, which a take-over rewrites, else the record's) is exactly
        `owner` are kept. An owner tag alone, without a record naming the owner, makes no
        model this manifest's: hand-written, it must not put another team's model in this
        plan. A server that cannot search tags with LIKE keeps owners in their own tag
        (`owner_in_record` stays False): there the owner-tag search finds them.
        """
        with self._errors():
            recorded = self._owned_by_record(owner)
            self.owner_in_record = recorded is not None
            if recorded is None:
                tagged = partial(
                    self._search_registered_models,
                    filter_string=f"tags.`{OWNER_TAG}` = {quote(owner)}",
                    max_results=MODELS_PAGE_SIZE,
                )
                recorded = _live_models(paginate(tagged))
            found = {n: m for n, m in recorded.items() if m.owner == owner}
            if found and not any(model.aliases for model in found.values()):
                found = self._recover_missing_aliases(found)  # else removals would be missed
        return found

    def _owned_by_record(self, owner: str) -> dict[str, LiveModel] | None:
        """Models whose last-applied record may name `owner`; None where the server cannot
        search tags with LIKE."""
        search = partial(
            self._search_registered_models,
            filter_string=f"tags.`{LAST_APPLIED_TAG}` LIKE {owner_pattern(owner)}",
            max_results=MODELS_PAGE_SIZE,
        )
        try:
            return _live_models(paginate(search))
        except Exception as exc:
            if "INVALID_PARAMETER_VALUE" not in str(getattr(exc, "error_code", "")):
                raise
            return None

    def _search_registered_models(self, **search: Any) -> Any:
        """MLflow's registered-model search without the 3.x client's prompt filter, which
        finds nothing on servers older than prompts (see `mlflow_private.registry_store`)."""
        return mlflow_private.registry_store(self.client).search_registered_models(**search)

    def _search_models(self, names: list[str]) -> dict[str, LiveModel]:
        return _live_models(
            self._search_named(self._search_registered_models, names, MODELS_PAGE_SIZE)
        )

    def _search_named(
        self, search: Callable[..., Any], names: list[str], page_size: int
    ) -> list[Any]:
        """What `search` finds for the named models, in the filters this server accepts.

        `name IN (...)` over chunks of names, until a server rejects it (MLflow 2.x, once per
        connection); then one `name = ...` search per model, in parallel, or for many models
        every page of the search, keeping the named.
        """
        if not names:
            return []
        if self.takes_name_lists is not False:
            filters = [f for _, f in name_filters(names, self.names_per_search)]

            def chunk(filter_string: str) -> list[Any]:
                return list(
                    paginate(partial(search, filter_string=filter_string, max_results=page_size))
                )

            try:
                first = chunk(filters[0])  # alone: it tells whether the server takes lists
            except Exception as exc:
                if not rejects_name_lists(exc):
                    raise
                self.takes_name_lists = False
            else:
                self.takes_name_lists = True
                # The other chunks at once: the server answers one while this process decodes
                # another (MLflow's protobuf decoding is most of a search's client time).
                with ThreadPoolExecutor(max_workers=STATE_READ_THREADS) as pool:
                    return first + [
                        item for found in pool.map(chunk, filters[1:]) for item in found
                    ]
        if len(names) > SINGLE_NAME_SEARCHES_MAX:
            wanted = set(names)
            every = paginate(partial(search, filter_string=None, max_results=page_size))
            return [item for item in every if item.name in wanted]

        def named(name: str) -> list[Any]:
            exact = partial(search, filter_string=f"name = {quote(name)}", max_results=page_size)
            return [item for item in paginate(exact) if item.name == name]

        with ThreadPoolExecutor(max_workers=FALLBACK_READ_THREADS) as pool:
            return [item for found in pool.map(named, names) for item in found]

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

    def _search_versions(self, names: list[str]) -> dict[str, dict[int, VersionFacts]]:
        """What the search says of each version: its status, and the facts evidence starts
        from (tags, run, creator, times, source), so no version is read again."""
        versions: dict[str, dict[int, VersionFacts]] = {}
        for version in self._all_versions(names):
            versions.setdefault(version.name, {})[int(version.version)] = version_facts(version)
        return versions

    def _all_versions(self, names: list[str]) -> list[Any]:
        """Every version of the named models: one paginated search per chunk of names."""
        return self._search_named(self.client.search_model_versions, names, VERSIONS_PAGE_SIZE)

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

    def _versions_of(self, name: str) -> dict[int, VersionFacts]:
        """Versions of a model no filter can name exactly: a LIKE search, then the exact name."""
        search = partial(
            self.client.search_model_versions,
            filter_string=f"name LIKE {like_any(name)}",
            max_results=VERSIONS_PAGE_SIZE,
        )
        return {
            int(version.version): version_facts(version)
            for version in paginate(search)
            if version.name == name
        }

    def read_all_model_names(self) -> list[str]:
        """Every registered model's name, for `import --all`."""
        with self._errors(""):
            search = partial(self._search_registered_models, max_results=MODELS_PAGE_SIZE)
            return sorted(_live_models(paginate(search)))


def _live_models(found: Iterable[Any]) -> dict[str, LiveModel]:
    return {registered.name: _live_model(registered) for registered in found}


_NO_TAGS: dict[str, str] = {}


def version_facts(version: Any) -> VersionFacts:
    """A searched (or read) version as plain data; most have no tags, and share one empty map."""
    tags = version.tags or {}
    return VersionFacts(
        status=str(version.status),
        created_ms=version.creation_timestamp,
        creator=version.user_id or None,
        description=version.description or None,
        tags={str(k): str(v) for k, v in tags.items()} if tags else _NO_TAGS,
        run_id=version.run_id or None,
        source=str(version.source or ""),
        model_id=getattr(version, "model_id", None) or None,
    )


def owner_pattern(owner: str) -> str:
    """A LIKE pattern for a last-applied record naming `owner`, as `_tag_json` writes it
    (`"owner":"…"`): every character but a letter or digit stands as `_`, which no filter
    quoting or JSON escape can trip on; the caller keeps only the exact owner."""
    written = '"owner":' + json.dumps(owner)
    return "'%" + "".join(c if c.isascii() and c.isalnum() else "_" for c in written) + "%'"


def _live_model(registered: Any) -> LiveModel:
    aliases = {
        str(alias): normalize_version(version)
        for alias, version in (registered.aliases or {}).items()
    }
    tags = registered.tags or {}
    last_applied = LastApplied.from_tags(tags)
    return LiveModel(
        name=registered.name,
        aliases=aliases,
        last_applied=last_applied,
        # The owner tag, else the record's owner (a first apply writes only the record).
        owner=tags.get(OWNER_TAG) or (last_applied.owner if last_applied else None),
    )
