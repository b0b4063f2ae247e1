"""The incident path from a laptop, timed: roll back one model while another model is broken.

A real `mlflow server` holding 14 models (champion on version 2), a git repository whose
manifest took `bikes` from 1 to 2 and declares a version of `churn` that does not exist, and a
bare `origin`. Then, each as a fresh CLI process: the whole plan (refused: churn), `rollback
bikes champion --commit --push`, the targeted plan, the merge, and `apply --target
bikes@champion`. Run: `python -m benchmarks.bench_incident`. Figures in docs/runbook.md.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from testing.repos import commit_file, make_repo
from testing.server import running_server

MODELS = ["bikes", "churn", *(f"model-{i:02d}" for i in range(12))]
RUNS = 5


def manifest(bikes: int) -> str:
    lines = ["version: 1", "models:"]
    for name in MODELS:
        champion = bikes if name == "bikes" else 9 if name == "churn" else 2
        lines += [f"  {name}:", "    aliases:", f"      champion: {champion}"]
    return "\n".join([*lines, ""])


def timed(cwd: Path, uri: str, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {"MLFLOW_TRACKING_URI": uri, "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    start = time.perf_counter()
    command = [sys.executable, "-m", "controller", *args]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, done


def main() -> None:
    from mlflow import MlflowClient

    scratch = tempfile.mkdtemp(prefix="bench-incident-")
    (Path(scratch) / "server").mkdir()
    with running_server(Path(scratch) / "server") as uri:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        for name in MODELS:
            client.create_registered_model(name)
            for i in (1, 2):
                client.create_model_version(name, source=f"s3://bench/{name}/{i}")
            client.set_registered_model_alias(name, "champion", "2")
        origin = Path(scratch) / "origin.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
        repo = make_repo(Path(scratch) / "work")
        work = Path(repo.working_tree_dir or ".")
        repo.create_remote("origin", str(origin))
        commit_file(repo, "registry.yaml", manifest(1), "declare")
        commit_file(repo, "registry.yaml", manifest(2), "promote bikes to 2")
        repo.git.push("-q", "origin", "HEAD:main")

        rows: list[tuple[str, float, int]] = []

        def measure(label: str, *args: str, runs: int = 1) -> None:
            results = [timed(work, uri, *args) for _ in range(runs)]
            median = statistics.median(seconds for seconds, _ in results)
            rows.append((label, median, results[-1][1].returncode))

        measure("plan (whole manifest; refused: churn)", "plan", runs=RUNS)
        measure("rollback bikes champion --commit --push", "rollback", "bikes", "champion",
                "--commit", "--push")  # fmt: skip
        measure("plan --target bikes@champion", "plan", "--target", "bikes@champion", runs=RUNS)
        branch = repo.active_branch.name
        repo.git.checkout("-q", "main")
        repo.git.merge("-q", "--no-ff", "-m", f"Merge {branch}", branch)
        measure("apply --target bikes@champion --auto-approve", "apply", "--target",
                "bikes@champion", "--auto-approve")  # fmt: skip
        aliases = client.get_registered_model("bikes").aliases
        print(f"{len(MODELS)} models; bikes@champion now {aliases['champion']}\n")
        print("| step | wall (median of runs) | exit |\n|---|---|---|")
        for label, seconds, code in rows:
            print(f"| `{label}` | {seconds:.2f} s | {code} |")


if __name__ == "__main__":
    main()
