"""Facts about versions for the gates and the evidence: what the versions search returned, the
runs' metrics and the MLmodel signatures a gate or a detailed change needs, read in parallel.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

from controller.evidence import (
    EvidenceNeeds,
    Logged,
    RunFacts,
    VersionKey,
    history_reads,
    parse_mlmodel,
    with_metrics,
)
from controller.output import without_credentials
from controller.registry.artifacts import download_file
from controller.registry.cache import (
    cache_dir,
    entry_path,
    keep_run_experiments,
    read_entry,
    read_run_experiments,
    write_entry,
)
from controller.registry.client import Connection
from controller.registry.filters import quote
from controller.registry.reads import version_facts
from controller.state import LiveState, RawVersion, VersionFacts
from controller.uris import ui_base
from controller.values import Signature

EVIDENCE_READ_THREADS = 8
LOGGED_MODEL_SOURCE = re.compile(r"^models:/m-[0-9a-f]+$")
# A run's artifacts live under `<experiment id>/<run id>/artifacts` in MLflow's stores: a
# version logged from a run names its experiment in its source.
EXPERIMENT_IN_SOURCE = re.compile(r"/(\d+)/([0-9a-f]{32})/artifacts(/|$)")
RUNS_PER_SEARCH = 100
# Sources the registry resolves to a storage location of its own; any other is where it is.
RESOLVED_SCHEMES = ("models", "runs")


class EvidenceReads(Connection):
    """Reads only what the plan's `EvidenceNeeds` ask for, in parallel and in batches."""

    def read_evidence(
        self, needs: EvidenceNeeds, live: LiveState | None = None, *, cached: bool = False
    ) -> dict[VersionKey, RawVersion]:
        """Facts about the versions `needs` names.

        A version the state read's search returned (`live`) is not read again, unless its
        every fact counts (`needs.exact`) and this registry's search leaves tags out (probed
        once, and only when no searched version has a tag). Per
        version in `needs.signatures`: the `MLmodel` file alone (its download URI asked of the
        registry only for `models:/` and `runs:/` sources). Per run of a version in
        `needs.runs`: its metrics, in one search per experiment where the sources name it,
        else `runs/get`; plus `metrics/get-history` for each metric a gate reads
        (`needs.histories`), to judge it as it stood at the registration. A version without a
        run reads its MLflow 3 logged model (`logged-models/get`) for metrics instead.
        With `cached` (signatures only shown, never judged), a signature kept by an earlier
        run in `MLFLOW_GITOPS_CACHE_DIR` is not read again (registry/cache.py).
        """
        keys = sorted(needs.versions)
        if not keys:
            return {}
        searched = _searched(live, keys)
        ui = ui_base(without_credentials(self.target.registry_uri))
        with self._errors():
            self.client  # noqa: B018 -- create it once, before the threads share it
            exact = needs.exact & set(searched)
            if exact and self._search_omits_tags(live, exact):
                searched = {k: f for k, f in searched.items() if k not in needs.exact}
        unread = [key for key in keys if key not in searched]
        with self._errors(), ThreadPoolExecutor(max_workers=EVIDENCE_READ_THREADS) as pool:
            read = dict(
                zip(unread, pool.map(lambda k: self._read_version(*k), unread), strict=True)
            )
            known = searched | read
            facts = {key: _raw(key, known[key]) for key in keys}
            sources = {key: known[key].source for key in keys}
            signed = sorted(needs.signatures & set(facts))
            signatures = dict(
                zip(
                    signed,
                    pool.map(lambda k: self._kept_signature(k, known[k], cached), signed),
                    strict=True,
                )
            )
            with_runs = {k: facts[k] for k in needs.runs if k in facts}
            runs = self._runs(with_runs, sources, pool)
            asked = history_reads(with_runs, runs, needs.histories)
            histories = dict(
                zip(asked, pool.map(lambda a: self._metric_history(*a), asked), strict=True)
            )
            logged = sorted({v.model_id for v in with_runs.values() if v.model_id and not v.run_id})
            points = dict(zip(logged, pool.map(self._logged_model_metrics, logged), strict=True))
        found = {}
        for key, version in facts.items():
            if key in signatures:
                has_signature, signature = signatures[key]
                version = version.model_copy(
                    update={"has_signature": has_signature, "signature": signature}
                )
            version = version.model_copy(update={"run_url": _run_url(ui, version.run_id)})
            if key in with_runs:
                gated = needs.histories.get(key, frozenset())
                version = with_metrics(version, runs, histories, points, gated)
            found[key] = version
        return found

    def _search_omits_tags(self, live: LiveState | None, exact: frozenset[VersionKey]) -> bool:
        """Whether this registry's versions search leaves tags out, as the missing-aliases
        probe asks of models: only when no searched version has a tag, one version read alone
        (the newest a gate or detail reads: the likeliest to carry one) decides, once per
        connection. Judged wrongly, a tag gate fails rather than passes: a missing tag never
        satisfies `require_tags`, `promotes_from` or a soak."""
        if _tags_seen(live):
            return False
        if self.search_omits_tags is None:
            model, version = max(exact, key=lambda key: (key[1], key[0]))
            alone = self.client.get_model_version(model, str(version))
            self.search_omits_tags = bool(alone.tags)
        return self.search_omits_tags

    def _read_version(self, model: str, version: int) -> VersionFacts:
        return version_facts(self.client.get_model_version(model, str(version)))

    def _kept_signature(
        self, key: VersionKey, facts: VersionFacts, cached: bool
    ) -> tuple[bool | None, Signature | None]:
        """The version's signature: from the cache when `cached` and kept there, else read
        (and kept for the next run, where a cache folder is set)."""
        folder = cache_dir()
        if folder is None:
            return self._signature(key[0], key[1], facts.source)
        registry = without_credentials(self.target.registry_uri)
        path = entry_path(folder, registry, *key, facts.created_ms, facts.source)
        found = read_entry(path) if cached else None
        if found is None:
            found = self._signature(key[0], key[1], facts.source)
            write_entry(path, found)
        return found

    def _signature(
        self, model: str, version: int, source: str
    ) -> tuple[bool | None, Signature | None]:
        """Read the MLmodel file alone; an unreadable one is `None` (unknown), not an error."""
        try:
            uri = source
            if not source or urlparse(source).scheme in RESOLVED_SCHEMES:
                uri = self._registry_client.get_model_version_download_uri(model, str(version))
            with tempfile.TemporaryDirectory() as folder:
                # The tracking URI resolves `mlflow-artifacts:` URIs: this registry's, not
                # whatever MLFLOW_TRACKING_URI says (--tracking-uri leaves that unset); the
                # download sends this registry's credentials (a copy's source has its own).
                text = download_file(
                    f"{uri.rstrip('/')}/MLmodel",
                    self.target.tracking_uri,
                    self.host_creds,
                    Path(folder),
                ).read_text(encoding="utf-8")
            signature = parse_mlmodel(text)
        except Exception:  # missing file, unreachable store, no S3 client: unknown, not fatal
            return None, None
        return signature is not None, signature

    def _runs(
        self,
        versions: Mapping[VersionKey, RawVersion],
        sources: Mapping[VersionKey, str],
        pool: ThreadPoolExecutor,
    ) -> dict[str, RunFacts]:
        """Each run's latest metrics and whether it is deleted: a search per experiment (and
        per 100 runs) where the version's source, or the cache of an earlier run, names the
        experiment; `runs/get` otherwise and for any run a search did not return (whose
        experiment is then kept in the cache, where one is set)."""
        registry = without_credentials(self.target.registry_uri)
        placed: dict[str, str | None] = {}  # run -> the experiment a version's source names
        for key, version in versions.items():
            if version.run_id:
                named = experiment_of(sources.get(key, ""), version.run_id)
                placed[version.run_id] = placed.get(version.run_id) or named
        if None in placed.values():  # the cache is read only for runs no source places
            kept = read_run_experiments(registry)
            placed = {run: found or kept.get(run) for run, found in placed.items()}
        experiments: dict[str, set[str]] = {}
        for run_id, experiment in placed.items():
            if experiment is not None:
                experiments.setdefault(experiment, set()).add(run_id)
        batches = [
            (experiment, sorted(ids)[start : start + RUNS_PER_SEARCH])
            for experiment, ids in sorted(experiments.items())
            for start in range(0, len(ids), RUNS_PER_SEARCH)
        ]
        found: dict[str, RunFacts] = {}
        for batch in pool.map(lambda b: self._search_runs(*b), batches):
            found |= batch
        rest = sorted(set(placed) - set(found))
        read = dict(zip(rest, pool.map(self._run_metrics, rest), strict=True))
        keep_run_experiments(registry, {r: e for r, (_, e) in read.items() if e is not None})
        return found | {run_id: facts for run_id, (facts, _) in read.items()}

    def _search_runs(self, experiment: str, run_ids: list[str]) -> dict[str, RunFacts]:
        from mlflow.entities import ViewType

        listed = ",".join(quote(run_id) for run_id in run_ids)
        runs = self.client.search_runs(
            experiment_ids=[experiment],
            filter_string=f"attributes.run_id IN ({listed})",
            run_view_type=ViewType.ALL,
            max_results=len(run_ids),
        )
        return {
            run.info.run_id: (dict(run.data.metrics), run.info.lifecycle_stage == "deleted")
            for run in runs
            if run.info.run_id in run_ids
        }

    def _run_metrics(self, run_id: str) -> tuple[RunFacts, str | None]:
        """The run's latest metrics and whether the run is deleted (or purged), and its
        experiment."""
        try:
            found = self.client.get_run(run_id)
        except Exception as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")):
                return ({}, True), None  # purged: the version stays, its metrics are gone
            raise
        facts = dict(found.data.metrics), found.info.lifecycle_stage == "deleted"
        return facts, str(found.info.experiment_id or "") or None

    def _metric_history(self, run_id: str, name: str) -> list[Logged]:
        return [
            (float(m.value), int(m.step), int(m.timestamp))
            for m in self.client.get_metric_history(run_id, name)
        ]

    def _logged_model_metrics(self, model_id: str) -> dict[str, list[Logged]]:
        """Every value the logged model holds, by metric name; none where it is gone, or where
        the server has no logged models at all (MLflow 2.x answers their endpoints with 404)."""
        try:
            found = self.client.get_logged_model(model_id)
        except Exception as exc:
            if str(getattr(exc, "error_code", "")) in (
                "RESOURCE_DOES_NOT_EXIST",
                "ENDPOINT_NOT_FOUND",
            ):
                return {}
            raise
        by_name: dict[str, list[Logged]] = {}
        for m in found.metrics or []:
            by_name.setdefault(m.key, []).append((float(m.value), int(m.step), int(m.timestamp)))
        return by_name


def experiment_of(source: str, run_id: str) -> str | None:
    """The experiment a version's source names for its run, if it names one."""
    match = EXPERIMENT_IN_SOURCE.search(source)
    return match[1] if match and match[2] == run_id else None


def _tags_seen(live: LiveState | None) -> bool:
    """Whether the search returned a tag on any version: then it carries them all. Any
    registry this tool applied to has them (its audit tags)."""
    models = live.models.values() if live else ()
    return any(facts.tags for model in models for facts in model.facts.values())


def _searched(live: LiveState | None, keys: Iterable[VersionKey]) -> dict[VersionKey, VersionFacts]:
    if live is None:
        return {}
    found = {}
    for model, version in keys:
        facts = live.models[model].facts.get(version) if model in live.models else None
        if facts is not None:
            found[(model, version)] = facts
    return found


def _raw(key: VersionKey, facts: VersionFacts) -> RawVersion:
    model, version = key
    source = facts.source
    logged = source.removeprefix("models:/") if LOGGED_MODEL_SOURCE.match(source) else None
    return RawVersion(
        model=model,
        version=version,
        created_ms=facts.created_ms,
        creator=facts.creator,
        description=facts.description,
        status=facts.status,
        tags=dict(facts.tags),
        run_id=facts.run_id,
        model_id=facts.model_id or logged,
    )


def _run_url(ui: str | None, run_id: str | None) -> str | None:
    """The run's page in the MLflow UI; the experiment-less route redirects to it."""
    if not ui or not run_id:
        return None
    return f"{ui}/#/runs/{run_id}"
