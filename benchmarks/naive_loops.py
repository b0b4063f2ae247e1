"""The loops a user would write without this tool, run as whole processes by bench_scale.

  plan  MANIFEST URL [--models K]   per declared alias: get_model_version_by_alias, then
                                    get_model_version of the declared version; prints the diff
  apply MANIFEST URL                the reconcile loop: per declared alias
                                    get_model_version_by_alias, and set_registered_model_alias
                                    where it differs, one after another

  writes MANIFEST URL --threads K  the server's write floor: on each of the first 100 models
                                    the three writes an apply makes per change (the alias, set
                                    to the version it holds; a version tag; a model tag), K at a
                                    time, through the registry client as the tool writes

Each prints one JSON line: what it found or did, and how long its loop took (without the
interpreter and mlflow start-up), so a sampled plan loop can be extrapolated honestly.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor

import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def naive_plan(client: MlflowClient, manifest: str, models: int | None) -> dict:
    with open(manifest, encoding="utf-8") as file:
        declared = yaml.safe_load(file)["models"]
    names = list(declared)[:models]
    start = time.perf_counter()
    changes = []
    for name in names:
        for alias, version in declared[name]["aliases"].items():
            try:
                live = client.get_model_version_by_alias(name, alias).version
            except MlflowException:
                live = None
            client.get_model_version(name, str(version))  # the declared version must exist
            if str(live) != str(version):
                changes.append(f"{name}@{alias}: {live} -> {version}")
    return {"models": len(names), "changes": len(changes), "loop_s": time.perf_counter() - start}


def naive_apply(client: MlflowClient, manifest: str) -> dict:
    with open(manifest, encoding="utf-8") as file:
        declared = yaml.safe_load(file)["models"]
    start = time.perf_counter()
    changes = 0
    for name, model in declared.items():
        for alias, version in model["aliases"].items():
            try:
                live = client.get_model_version_by_alias(name, alias).version
            except MlflowException:
                live = None
            if str(live) != str(version):
                client.set_registered_model_alias(name, alias, str(version))
                changes += 1
    return {"models": len(declared), "changes": changes, "loop_s": time.perf_counter() - start}


def write_floor(client: MlflowClient, manifest: str, threads: int) -> dict:
    with open(manifest, encoding="utf-8") as file:
        declared = yaml.safe_load(file)["models"]
    names = list(declared)[:100]
    # As the tool writes: MlflowClient's own write methods first read the model (a prompt
    # check), a second request per write that the tool's registry layer does not make.
    registry = client._get_registry_client()

    def write(name: str) -> None:
        champion = str(declared[name]["aliases"]["champion"])
        registry.set_registered_model_alias(name, "champion", champion)  # the same version
        registry.set_model_version_tag(name, champion, "bench.floor", "1")
        registry.set_registered_model_tag(name, "bench.floor", "1")

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(write, names))
    return {"writes": 3 * len(names), "threads": threads, "loop_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan")
    plan.add_argument("manifest")
    plan.add_argument("url")
    plan.add_argument("--models", type=int, help="only the first K models (a sample)")
    apply = commands.add_parser("apply")
    apply.add_argument("manifest")
    apply.add_argument("url")
    writes = commands.add_parser("writes")
    writes.add_argument("manifest")
    writes.add_argument("url")
    writes.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    client = MlflowClient(tracking_uri=args.url, registry_uri=args.url)
    if args.command == "plan":
        result = naive_plan(client, args.manifest, args.models)
    elif args.command == "apply":
        result = naive_apply(client, args.manifest)
    else:
        result = write_floor(client, args.manifest, args.threads)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
