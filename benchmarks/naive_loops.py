"""The loops a user would write without this tool, run as whole processes by bench_scale.

  plan  MANIFEST URL [--models K]   per declared alias: get_model_version_by_alias, then
                                    get_model_version of the declared version; prints the diff
  apply MANIFEST URL                the reconcile loop: per declared alias
                                    get_model_version_by_alias, and set_registered_model_alias
                                    where it differs, one after another

Each prints one JSON line: what it found or did, and how long its loop took (without the
interpreter and mlflow start-up), so a sampled plan loop can be extrapolated honestly.
"""

from __future__ import annotations

import argparse
import json
import time

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
    args = parser.parse_args()

    client = MlflowClient(tracking_uri=args.url, registry_uri=args.url)
    if args.command == "plan":
        result = naive_plan(client, args.manifest, args.models)
    else:
        result = naive_apply(client, args.manifest)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
