"""Benchmark: whole-process start-up of the offline commands, and of `plan` against a server.

Each command runs --runs times as a fresh process (as hyperfine does) in a scratch git
repository; the median wall time, its spread and the median CPU time (user + system of the
process, which other load on a shared machine inflates far less than wall time) are printed as
a Markdown table. `plan` runs against a
real `mlflow server` on 127.0.0.1 holding the one declared model, so it measures importing
mlflow plus two searches. --bin picks the installation to measure, e.g. a venv made with
`uv pip install .` (mlflow-skinny) rather than this project's dev environment.
Run: python -m benchmarks.bench_startup [--bin PATH/TO/mlflow-gitops] [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from testing.server import running_server

MANIFEST = "version: 1\nmodels:\n  bikes:\n    aliases:\n      champion: {version}\n"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def scratch_repository(root: Path) -> Path:
    """A repository whose manifest moved bikes@champion 1 -> 2 -> 3 -> 4 -> 5."""
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Ann")
    git(repo, "config", "user.email", "ann@example.com")
    for version in range(1, 6):
        (repo / "registry.yaml").write_text(MANIFEST.format(version=version))
        git(repo, "add", "registry.yaml")
        git(repo, "commit", "-q", "-m", f"bikes@champion {version}")
    return repo


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def seconds(
    command: list[str], repo: Path, env: dict[str, str], runs: int
) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each run."""
    wall, cpu = [], []
    for _ in range(runs):
        cpu_before, start = children_cpu(), time.perf_counter()
        result = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
        wall.append(time.perf_counter() - start)
        cpu.append(children_cpu() - cpu_before)
        if result.returncode != 0:
            sys.exit(f"{' '.join(command)} exited {result.returncode}: {result.stderr}")
        git(repo, "checkout", "-q", "--", "registry.yaml")  # undo promote's edit
    return wall, cpu


def seed(url: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    client.create_registered_model("bikes")
    for version in range(1, 6):
        client.create_model_version("bikes", f"s3://bench/bikes/{version}", await_creation_for=0)
    client.set_registered_model_alias("bikes", "champion", "5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", default=str(Path(sys.executable).parent / "mlflow-gitops"))
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    tool = args.bin
    commands = {
        "--help": [tool, "--help"],
        "--version": [tool, "--version"],
        "validate": [tool, "validate"],
        "promote … --offline": [tool, "promote", "bikes", "champion", "7", "--offline"],
        "history (5 commits)": [tool, "history"],
        "plan (server, 1 model)": [tool, "plan"],
    }
    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp)) as url:
        seed(url)
        repo = scratch_repository(Path(tmp))
        env = {**os.environ, "MLFLOW_TRACKING_URI": url}
        print(f"{tool}, {os.cpu_count()} cores, median of {args.runs} runs\n")
        print(f"load average {os.getloadavg()[0]:.1f}\n")
        print("| command | median | min | max | CPU (median) |\n|---|---|---|---|---|")
        for name, command in commands.items():
            wall, cpu = seconds(command, repo, env, args.runs)
            print(
                f"| `{name}` | {statistics.median(wall):.2f} s | {min(wall):.2f} s "
                f"| {max(wall):.2f} s | {statistics.median(cpu):.2f} s |"
            )


if __name__ == "__main__":
    main()
