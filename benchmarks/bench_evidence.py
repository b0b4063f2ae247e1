"""Benchmark: gathering plan evidence for N promotions, in parallel vs one read at a time.

Starts its own `mlflow server` (SQLite) on 127.0.0.1, logs one real model from a run, registers
it as versions 1 and 2 of N models (so every version has a run and an MLmodel file), then times
`Registry.read_evidence` for the 2N versions an `N x champion: 1 -> 2` plan shows:
  serial    one read at a time (EVIDENCE_READ_THREADS = 1)
  parallel  the shipped bound (EVIDENCE_READ_THREADS)
and prints seconds, REST calls and the ratio. Run: python -m benchmarks.bench_evidence
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from controller.evidence import EvidenceNeeds
from controller.registry import Registry
from controller.registry import facts as registry_module
from controller.target import RegistryTarget
from testing.runs import log_version
from testing.server import recorded_rest_calls, running_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=20)
    args = parser.parse_args()

    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory() as root, running_server(Path(root)) as url:
        client = MlflowClient(tracking_uri=url, registry_uri=url)
        log_version(url, "seed", metrics={"rmse": 1.0, "r2": 0.9})
        seeded = client.get_model_version("seed", "1")
        model_id = seeded.source.removeprefix("models:/")
        names = [f"bench-{i:03d}" for i in range(args.models)]
        for name in names:
            client.create_registered_model(name)
            for _ in range(2):
                client.create_model_version(
                    name, seeded.source, run_id=seeded.run_id, model_id=model_id
                )
        wanted = frozenset((name, version) for name in names for version in (1, 2))
        # Every version in full and read alone (no state read to start from): the worst case.
        everything = EvidenceNeeds(versions=wanted, runs=wanted, signatures=wanted, exact=wanted)

        timings = {}
        parallel_threads = registry_module.EVIDENCE_READ_THREADS
        for label, threads in (("serial", 1), ("parallel", parallel_threads)):
            registry_module.EVIDENCE_READ_THREADS = threads
            registry = Registry(RegistryTarget(url, url))
            registry.client  # noqa: B018 -- connect outside the timing
            with recorded_rest_calls() as calls:
                start = time.perf_counter()
                found = registry.read_evidence(everything)  # no gate: no history reads
                timings[label] = (time.perf_counter() - start, len(calls))
            assert all(
                v.metrics == {"rmse": 1.0, "r2": 0.9} and v.has_signature for v in found.values()
            )
        registry_module.EVIDENCE_READ_THREADS = parallel_threads

        print(f"models={args.models} versions={len(wanted)} runs=1")
        for label, (seconds, count) in timings.items():
            print(
                f"{label}: {seconds:.2f} s, {count} REST calls (+{len(wanted)} MLmodel downloads)"
            )
        print(f"speed-up: {timings['serial'][0] / timings['parallel'][0]:.1f}x")


if __name__ == "__main__":
    main()
