"""Facts about versions for the gates and the evidence: the version, its run's metrics, and
its MLmodel file's signature, read in parallel."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from controller.evidence import Logged, history_reads, parse_mlmodel, with_metrics
from controller.output import without_credentials
from controller.registry.artifacts import download_file
from controller.registry.client import Connection
from controller.state import RawVersion
from controller.uris import ui_base
from controller.values import Signature

EVIDENCE_READ_THREADS = 8
LOGGED_MODEL_SOURCE = re.compile(r"^models:/m-[0-9a-f]+$")


class EvidenceReads(Connection):
    """One read per version and per run, in parallel."""

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
        ui = ui_base(without_credentials(self.target.registry_uri))
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
            uri = self._registry_client.get_model_version_download_uri(model, str(version))
            with tempfile.TemporaryDirectory() as folder:
                # The tracking URI resolves `mlflow-artifacts:` URIs: this registry's, not
                # whatever MLFLOW_TRACKING_URI says (--tracking-uri leaves that unset).
                text = download_file(
                    f"{uri}/MLmodel", self.target.tracking_uri, self.host_creds, Path(folder)
                ).read_text(encoding="utf-8")
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


def _run_url(ui: str | None, run_id: str | None) -> str | None:
    """The run's page in the MLflow UI; the experiment-less route redirects to it."""
    if not ui or not run_id:
        return None
    return f"{ui}/#/runs/{run_id}"
