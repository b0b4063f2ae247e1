"""Benchmark: reading live state for N models x 2 aliases, batched vs the naive per-alias loop.

Starts its own `mlflow server` (SQLite) on 127.0.0.1, fills it, then times in the same process:
  baseline  one `get_model_version_by_alias` per alias (the loop from MLflow's docs)
  batched   `Registry.read_state` (chunked `name IN (...)` searches)
and prints seconds, REST calls and the speed-up ratio. Run: python -m benchmarks.bench_read
(`--mlflow2`: against an MLflow 2.22 server, `make .tools/mlflow2/bin/mlflow`, where the batched
read searches model by model up to 100 models, and pages through everything beyond).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from controller.registry import Registry
from controller.target import RegistryTarget
from testing.mlflow2 import BUILD_COMMAND, mlflow2_executable
from testing.server import recorded_rest_calls, running_server

ALIASES = ("champion", "challenger")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=300)
    parser.add_argument("--mlflow2", action="store_true", help="run an MLflow 2.22 server")
    args = parser.parse_args()
    mlflow = mlflow2_executable() if args.mlflow2 else None
    if args.mlflow2 and mlflow is None:
        parser.error(f"no MLflow 2.22 environment: build it with `{BUILD_COMMAND}`")

    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory() as root, running_server(Path(root), mlflow=mlflow) as url:
        client = MlflowClient(tracking_uri=url, registry_uri=url)
        names = [f"bench-{i:04d}" for i in range(args.models)]
        for name in names:
            client.create_registered_model(name)
            client.create_model_version(name, f"s3://bench/{name}/1", await_creation_for=0)
            for alias in ALIASES:
                client.set_registered_model_alias(name, alias, "1")

        with recorded_rest_calls() as calls:
            start = time.perf_counter()
            naive = {
                (n, a): client.get_model_version_by_alias(n, a).version
                for n in names
                for a in ALIASES
            }
            naive_s, naive_calls = time.perf_counter() - start, len(calls)

            calls.clear()
            registry = Registry(RegistryTarget(url, url))
            start = time.perf_counter()
            state = registry.read_state(names)
            batched_s, batched_calls = time.perf_counter() - start, len(calls)

        assert {
            (n, a): str(v) for n, m in state.models.items() for a, v in m.aliases.items()
        } == naive
        print(f"server={'2.22' if args.mlflow2 else 'this environment'}")
        print(f"models={args.models} aliases={len(naive)}")
        print(
            f"baseline, get_model_version_by_alias per alias: {naive_s:.2f} s, {naive_calls} calls"
        )
        print(f"batched, Registry.read_state: {batched_s:.2f} s, {batched_calls} calls")
        print(f"speed-up: {naive_s / batched_s:.0f}x")


if __name__ == "__main__":
    main()
