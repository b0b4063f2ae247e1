"""Benchmark: plan and apply at N = 1,000 and 10,000 models, against the loops users write.

At N = 1,000 (issue 22's targets): seed a SQLite store directly (N models x 3 versions x 2
aliases, managed by the benchmark's manifest), start a real `mlflow server` on it, then run as
whole processes
  plan         `mlflow-gitops plan` with 100 changed aliases  vs  naive_loops.py plan
  apply        `mlflow-gitops apply` of 100 alias changes     vs  naive_loops.py apply (reconcile)
  first apply  the same apply on a store of unmanaged models (adoption: every record written)
At N = 10,000: plan with 1 % changed (time, requests, peak memory), and the Markdown comment of
a 500-change plan (its length, and a row for every change).
Requests are counted in the server's access log, the tool's peak memory is the child's
ru_maxrss from wait4. Prints each target met or missed, and writes BENCHMARKS.md.
Run: make bench, or python -m benchmarks.bench_scale [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from testing.access_log import Requests, counted_requests
from testing.seed import every_nth, manifest_text, model_names
from testing.server import running_server, server_log

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOOL = str(BIN / "mlflow-gitops")
PLAN_CHANGES = 100  # at N = 1,000
APPLY_CHANGES = 100
COMMENT_CHANGES = 500
PLAN_RUNS = 3
PARALLEL_WRITES = 4  # as controller/registry/writes.py (not imported: it would load mlflow)
PROCESS_TIMEOUT_S = 900
PROFILE_HEADING = "## Profile"
# The key of the N = 1,000 figures measured in this (the development) environment, when
# --installed names the environment whose figures decide the targets.
DEVELOPMENT = "development"

TARGET_PLAN_RATIO = 15
TARGET_EVIDENCE_REQUESTS = 40
TARGET_APPLY_RATIO = 5
TARGET_FIRST_APPLY = 2.0
TARGET_PEAK_MB = 300
COMMENT_LIMIT = 65_000
# The reads of the registry's state, as opposed to the evidence of changed aliases.
STATE_READS = {
    "GET /api/2.0/mlflow/registered-models/search",
    "GET /api/2.0/mlflow/model-versions/search",
}
EVIDENCE_READS = {
    "GET /api/2.0/mlflow/model-versions/get",
    "GET /api/2.0/mlflow/model-versions/get-download-uri",
    "GET /api/2.0/mlflow/registered-models/get",
    "GET /api/2.0/mlflow/runs/get",
    "POST /api/2.0/mlflow/runs/search",
    "GET /api/2.0/mlflow/metrics/get-history",
    "GET /api/2.0/mlflow/logged-models/get",
}


@dataclass(frozen=True)
class Run:
    """One whole process: wall seconds, peak resident memory, output, and the server's view."""

    seconds: float
    peak_mb: float
    stdout: str
    requests: Requests


def run_process(command: list[str], url: str, log: Path) -> Run:
    """Run `command` to the end, its requests counted at the server, its rusage from wait4."""
    with tempfile.TemporaryFile() as out, counted_requests(url, log) as requests:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, cwd=ROOT)
        killer = threading.Timer(PROCESS_TIMEOUT_S, proc.kill)
        killer.start()
        # wait4, not proc.wait(): it also returns this child's own peak memory.
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        out.seek(0)
        stdout = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{command[:3]} exited {proc.returncode}:\n{stdout[-2000:]}{stderr}")
    return Run(seconds, usage.ru_maxrss / 1024, stdout, requests)


def best(runs: list[Run]) -> Run:
    return min(runs, key=lambda r: r.seconds)


def tool_changes(stdout: str, verb: str) -> int:
    """The count from the tool's own summary line: `Plan: 0 to create, 4 to update, ...`."""
    if verb == "plan":
        match = re.search(r"Plan: (\d+) to create, (\d+) to update, (\d+) to delete", stdout)
        return sum(int(n) for n in match.groups()) if match else -1
    match = re.search(r"Apply: (\d+) applied, (\d+) failed", stdout)
    return int(match[1]) if match and match[2] == "0" else -1


def naive_result(run: Run) -> dict:
    return json.loads(run.stdout.strip().splitlines()[-1])


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def seeded_server(root: Path, count: int, managed: bool = True) -> Iterator[tuple[str, Path]]:
    """A fresh store of `count` models served by a real `mlflow server`: (url, access log).

    Seeded in a child: this process must never import mlflow. A child's ru_maxrss starts at its
    parent's resident size when forked, so a big parent would hide the tool's own peak.
    """
    root.mkdir()
    database = root / "mlflow.db"
    seed = [sys.executable, "-m", "testing.seed", str(database), str(count)]
    subprocess.run(
        seed + ([] if managed else ["unmanaged"]), check=True, cwd=ROOT, stderr=subprocess.DEVNULL
    )
    with running_server(root, f"sqlite:///{database}") as url:
        yield url, server_log(root)


def naive_command(bin_dir: Path) -> list[str]:
    """The naive loops, run by the same environment's Python as the tool they are held to."""
    return [str(bin_dir / "python"), "-m", "benchmarks.naive_loops"]


def tool(
    verb: str,
    manifest: Path,
    url: str,
    log: Path,
    expected: int,
    *extra: str,
    bin_dir: Path = BIN,
) -> Run:
    command = [str(bin_dir / "mlflow-gitops"), verb, "-f", str(manifest), "--tracking-uri", url]
    command += extra
    if verb == "apply":
        command.append("--auto-approve")
    run = run_process(command, url, log)
    if expected >= 0 and tool_changes(run.stdout, verb) != expected:
        raise RuntimeError(f"{verb} expected {expected} changes:\n{run.stdout[-2000:]}")
    return run


def counted(run: Run, endpoints: set[str]) -> int:
    return sum(n for endpoint, n in run.requests.by_endpoint().items() if endpoint in endpoints)


def bench_1000(folder: Path, bin_dir: Path = BIN) -> dict:
    """Plan, apply and first apply at N = 1,000 against the naive loops, both run by the
    environment in `bin_dir`."""
    count = 1000
    naive_loops = naive_command(bin_dir)
    at = partial(tool, bin_dir=bin_dir)
    folder.mkdir(parents=True)
    names = model_names(count)
    plan_file, forward, back = folder / "plan.yaml", folder / "forward.yaml", folder / "back.yaml"
    plan_file.write_text(manifest_text(names, set(every_nth(names, PLAN_CHANGES))))
    forward.write_text(manifest_text(names, set(every_nth(names, APPLY_CHANGES))))
    back.write_text(manifest_text(names, set()))
    with seeded_server(folder / "steady", count) as (url, log):
        plans = [at("plan", plan_file, url, log, PLAN_CHANGES) for _ in range(PLAN_RUNS)]
        progress(f"N={count} ({bin_dir.parent.name}): plan {best(plans).seconds:.2f} s")
        naive = run_process([*naive_loops, "plan", str(plan_file), url], url, log)
        if naive_result(naive)["changes"] != PLAN_CHANGES:
            raise RuntimeError(f"naive plan found {naive_result(naive)}")
        progress(f"N={count} ({bin_dir.parent.name}): naive plan {naive.seconds:.1f} s")
        applies = [
            at("apply", forward, url, log, APPLY_CHANGES),
            at("apply", back, url, log, APPLY_CHANGES),
        ]
        naive_applies = [
            run_process([*naive_loops, "apply", str(manifest), url], url, log)
            for manifest in (forward, back)
        ]
        if any(naive_result(r)["changes"] != APPLY_CHANGES for r in naive_applies):
            raise RuntimeError("the naive reconcile loop did not make 100 changes")
        progress(
            f"N={count} ({bin_dir.parent.name}): apply {best(applies).seconds:.2f} s, "
            f"naive {best(naive_applies).seconds:.2f} s"
        )
        # What the server takes per write, whatever writes it: the floor under any apply.
        floors = {
            threads: naive_result(
                run_process(
                    [*naive_loops, "writes", str(back), url, "--threads", str(threads)], url, log
                )
            )
            for threads in (1, PARALLEL_WRITES)
        }
        # Both loops ended where they began: a plan of the original manifest finds nothing.
        at("plan", back, url, log, -1, "--detailed-exitcode")
    with seeded_server(folder / "adopt", count, managed=False) as (url, log):
        first = at("apply", forward, url, log, APPLY_CHANGES)
        progress(f"N={count} ({bin_dir.parent.name}): first apply {first.seconds:.2f} s")
        again = at("plan", forward, url, log, -1, "--detailed-exitcode")
    plan, apply, naive_apply = best(plans), best(applies), best(naive_applies)
    return {
        "n": count,
        "plan_changes": PLAN_CHANGES,
        "plan_s": plan.seconds,
        "plan_requests": len(plan.requests.seen),
        "plan_state_reads": counted(plan, STATE_READS),
        "plan_evidence_reads": counted(plan, EVIDENCE_READS),
        "plan_writes": plan.requests.writes,
        "plan_endpoints": plan.requests.by_endpoint(),
        "plan_read_limit": 2 * math.ceil(count / 100) + 2,
        "naive_plan_s": naive.seconds,
        "naive_plan_requests": len(naive.requests.seen),
        "apply_s": apply.seconds,
        "apply_reads": apply.requests.reads,
        "apply_writes": apply.requests.writes,
        "apply_evidence_reads": counted(apply, EVIDENCE_READS),
        "apply_endpoints": apply.requests.by_endpoint(),
        "naive_apply_s": naive_apply.seconds,
        "naive_apply_requests": len(naive_apply.requests.seen),
        "write_ms": {t: 1000 * f["loop_s"] / f["writes"] for t, f in floors.items()},
        "first_apply_s": first.seconds,
        "first_apply_reads": first.requests.reads,
        "first_apply_writes": first.requests.writes,
        "first_apply_endpoints": first.requests.by_endpoint(),
        "first_apply_converged": "No changes." in again.stdout,
        "plan_peak_mb": max(r.peak_mb for r in plans),
        "apply_peak_mb": max(r.peak_mb for r in [*applies, first]),
    }


def bench_10000(folder: Path) -> dict:
    """Plan at N = 10,000 with 1 % changed, and the comment of a 500-change plan."""
    count = 10_000
    folder.mkdir(parents=True)
    names = model_names(count)
    moved = count // 100
    plan_file, big = folder / "plan.yaml", folder / "big.yaml"
    plan_file.write_text(manifest_text(names, set(every_nth(names, moved))))
    big.write_text(manifest_text(names, set(every_nth(names, COMMENT_CHANGES))))
    with seeded_server(folder / "large", count) as (url, log):
        plans = [tool("plan", plan_file, url, log, moved) for _ in range(2)]
        progress(f"N={count}: plan {best(plans).seconds:.2f} s")
        comment = run_process(
            [TOOL, "plan", "-f", str(big), "--tracking-uri", url, "--format", "markdown"], url, log
        )
    rows = re.findall(r"\| champion \| (?:2 → 3|2 \| 3) \|", comment.stdout)
    plan = best(plans)
    return {
        "n": count,
        "plan_changes": moved,
        "plan_s": plan.seconds,
        "plan_requests": len(plan.requests.seen),
        "plan_state_reads": counted(plan, STATE_READS),
        "plan_evidence_reads": counted(plan, EVIDENCE_READS),
        "plan_endpoints": plan.requests.by_endpoint(),
        "plan_read_limit": 2 * math.ceil(count / 100) + 2,
        "plan_peak_mb": max(r.peak_mb for r in plans),
        "comment_changes": COMMENT_CHANGES,
        "comment_chars": len(comment.stdout.rstrip("\n")),
        "comment_rows": len(rows),
        "comment_s": comment.seconds,
    }


def ratio(slow: float, fast: float) -> str:
    return f"{slow / fast:.1f}x"


def elsewhere(dev: dict | None, slow: str, fast: str) -> str:
    """The same ratio in the development environment, when the targets are judged on the
    installed tool."""
    if dev is None:
        return ""
    return f"; in the development environment {dev[slow] / dev[fast]:.2f}x"


def floor_s(r: dict, writes: int) -> float:
    """The least time `writes` writes take on this server, at its best measured parallelism."""
    return writes * min(r["write_ms"].values()) / 1000


def floor_note(r: dict, writes: int) -> str:
    (one, alone), (many, together) = sorted(r["write_ms"].items())
    return (
        f"a write takes the server {alone:.1f} ms {one} at a time, {together:.1f} ms {many} at "
        f"once: {writes:,} writes alone take {floor_s(r, writes):.2f} s"
    )


def verdict(target: str, met: bool, got: str) -> str:
    return f"- {'met' if met else 'MISSED'}: {target} (measured {got})"


def verdicts(results: dict[int | str, dict]) -> list[str]:
    """Each target of issue 22, met or missed, from this run's figures."""
    lines = []
    if 1000 in results:
        r = results[1000]
        dev = results.get(DEVELOPMENT)
        got = r["naive_plan_s"] / r["plan_s"]
        lines += [
            verdict(
                f"plan at N=1,000 with 100 changed aliases >= {TARGET_PLAN_RATIO}x the naive loop",
                got >= TARGET_PLAN_RATIO,
                f"{got:.1f}x: {r['plan_s']:.2f} s against {r['naive_plan_s']:.1f} s"
                + elsewhere(dev, "naive_plan_s", "plan_s"),
            ),
            verdict(
                f"plan at N=1,000: at most {r['plan_read_limit']} state reads, no writes",
                r["plan_state_reads"] <= r["plan_read_limit"] and r["plan_writes"] == 0,
                f"{r['plan_state_reads']} state reads, {r['plan_writes']} writes",
            ),
            verdict(
                f"plan at N=1,000: at most {TARGET_EVIDENCE_REQUESTS} evidence requests",
                r["plan_evidence_reads"] <= TARGET_EVIDENCE_REQUESTS,
                f"{r['plan_evidence_reads']}",
            ),
            "- not timed here: with metric gates on every alias, at most one request per "
            "distinct run on top (versions with runs; asserted by tests/test_evidence_reads.py)",
        ]
        got = r["naive_apply_s"] / r["apply_s"]
        lines += [
            verdict(
                f"apply of 100 changes >= {TARGET_APPLY_RATIO}x the naive reconcile loop",
                got >= TARGET_APPLY_RATIO,
                f"{got:.1f}x: {r['apply_s']:.2f} s against {r['naive_apply_s']:.2f} s"
                + elsewhere(dev, "naive_apply_s", "apply_s")
                + f"; {floor_note(r, r['apply_writes'])}, so at most "
                f"{r['naive_apply_s'] / floor_s(r, r['apply_writes']):.1f}x with no start-up "
                "and no reads",
            ),
            verdict(
                "apply of 100 changes without gates reads no evidence",
                r["apply_evidence_reads"] == 0,
                f"{r['apply_evidence_reads']} evidence reads",
            ),
        ]
        got = r["first_apply_s"] / r["apply_s"]
        lines.append(
            verdict(
                f"first apply at N=1,000 within {TARGET_FIRST_APPLY:.0f}x the steady-state apply",
                got <= TARGET_FIRST_APPLY and r["first_apply_converged"],
                f"{got:.2f}x: {r['first_apply_s']:.2f} s against {r['apply_s']:.2f} s; "
                f"{r['first_apply_writes']} writes against {r['apply_writes']}"
                + elsewhere(dev, "first_apply_s", "apply_s")
                + f"; {floor_note(r, r['first_apply_writes'])}, "
                f"{floor_s(r, r['first_apply_writes']) / r['apply_s']:.2f}x the steady apply",
            )
        )
    if 10_000 in results:
        r = results[10_000]
        lines += [
            verdict(
                f"plan at N=10,000 with 1 % changed: peak memory <= {TARGET_PEAK_MB} MB",
                r["plan_peak_mb"] <= TARGET_PEAK_MB,
                f"{r['plan_peak_mb']:.0f} MB; {r['plan_s']:.2f} s, {r['plan_requests']} "
                f"requests ({r['plan_state_reads']} state, {r['plan_evidence_reads']} evidence)",
            ),
            verdict(
                f"the comment for {r['comment_changes']} changes under {COMMENT_LIMIT:,} "
                "characters with every change's row",
                r["comment_chars"] < COMMENT_LIMIT and r["comment_rows"] == r["comment_changes"],
                f"{r['comment_chars']:,} characters, {r['comment_rows']} rows",
            ),
        ]
    return lines


def endpoints(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in counts.items())


def thousand_rows(r: dict, where: str) -> list[str]:
    """The N = 1,000 table's rows for one environment's figures."""
    label = f" ({where})" if where else ""
    return [
        f"| plan, 100 changed aliases{label} | {r['plan_s']:.2f} s | {r['naive_plan_s']:.1f} s "
        f"| **{ratio(r['naive_plan_s'], r['plan_s'])}** | {r['plan_requests']} "
        f"({r['plan_state_reads']} state + {r['plan_evidence_reads']} evidence) "
        f"| {r['naive_plan_requests']:,} | {r['plan_peak_mb']:.0f} MB |",
        f"| apply, 100 changes{label} | {r['apply_s']:.2f} s | {r['naive_apply_s']:.2f} s "
        f"| **{ratio(r['naive_apply_s'], r['apply_s'])}** "
        f"| {r['apply_reads'] + r['apply_writes']} ({r['apply_reads']} reads + "
        f"{r['apply_writes']} writes) | {r['naive_apply_requests']:,} "
        f"| {r['apply_peak_mb']:.0f} MB |",
        f"| first apply (adoption), same 100 changes{label} | {r['first_apply_s']:.2f} s | | "
        f"{r['first_apply_s'] / r['apply_s']:.2f}x the steady state "
        f"| {r['first_apply_reads'] + r['first_apply_writes']} ({r['first_apply_reads']} "
        f"reads + {r['first_apply_writes']} writes) | | |",
    ]


def report(results: dict[int | str, dict], started: datetime, total_s: float, load: float) -> str:
    mlflow_version = importlib.metadata.version("mlflow")
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (`benchmarks/bench_scale.py`) on {started:%Y-%m-%d %H:%M} "
        f"UTC: {os.cpu_count()} cores shared with other work (1-minute load average {load:.1f} "
        f"at the start), Python "
        f"{platform.python_version()}, mlflow {mlflow_version}, a real `mlflow server` (SQLite, "
        f"1 worker) on 127.0.0.1. The whole run took {total_s / 60:.1f} minutes, seeding "
        "included. Ratios are the headline: both sides run in the same minutes, so load moves "
        "them much less than absolute times.",
        "",
        "## Targets (issue 22)",
        "",
        *verdicts(results),
        "",
    ]
    if 1000 in results:
        r = results[1000]
        dev = results.get(DEVELOPMENT)
        lines += [
            "## N = 1,000: plan, apply and first apply as whole processes",
            "",
            *(
                [
                    "Each comparison ran twice, on the same kind of store: with the tool "
                    "installed as users install it (`.venv-runtime`, `uv sync --no-dev "
                    "--no-editable`: the runtime dependencies, MLflow as mlflow-skinny), and in "
                    "the development environment "
                    "(full mlflow, whose import also loads pandas, pyarrow and more). Both sides "
                    "of a ratio ran in the same environment; the installed figures decide the "
                    "targets.",
                    "",
                ]
                if dev
                else []
            ),
            "| | tool | naive loop | speed-up | tool requests | naive requests | peak memory |",
            "|---|---|---|---|---|---|---|",
            *thousand_rows(r, "installed" if dev else ""),
            *(thousand_rows(dev, "development environment") if dev else []),
            "",
            "- **plan**: `mlflow-gitops plan` (text) of a manifest moving 100 `champion` aliases, "
            f"best of {PLAN_RUNS}; **naive**: `benchmarks/naive_loops.py plan`, per declared alias "
            "`get_model_version_by_alias` then `get_model_version`. The seeded versions have "
            "`s3://` sources and no runs, no tags: one version read alone tells that the "
            "search does not leave tags out, the 20 detailed changes' `MLmodel` files are not "
            "reachable (no S3), and no run is read.",
            "- **apply**: `mlflow-gitops apply --auto-approve` of 100 moves (forward, then back; "
            "best of 2); **naive**: `naive_loops.py apply`, the reconcile loop: per declared "
            "alias `get_model_version_by_alias`, and `set_registered_model_alias` where it "
            "differs (best of 2).",
            "- **first apply**: the forward apply on a store of the same models with no "
            "last-applied or owner records, as after `import`: every model gets its records.",
            "- Requests are counted at the server (uvicorn's access log between two marker "
            "requests); peak memory is `ru_maxrss` of each process from `wait4`.",
            "",
            f"Where the plan's requests go: {endpoints(r['plan_endpoints'])}.",
            "",
            f"Where the apply's requests go: {endpoints(r['apply_endpoints'])}.",
            "",
            f"Where the first apply's requests go: {endpoints(r['first_apply_endpoints'])}.",
            "",
            "**The write floor.** `naive_loops.py writes` times the three writes an apply makes "
            "per change (the alias, a version tag, a model tag) on 100 models of the same "
            "server, through the registry client as the tool writes, one at a time and 4 at "
            "once: "
            f"{floor_note(r, r['apply_writes'])}. A write costs the server about the same "
            "however many arrive together (SQLite takes one writer at a time), so the apply's "
            "writes (per change: the alias, the version's audit tag, the model's last-applied "
            "record) set its least time whatever the client does, and the first apply's "
            f"{r['first_apply_writes']:,} (a record for each of the 1,000 models it adopts) set "
            "that one's.",
            "",
        ]
    if 10_000 in results:
        r = results[10_000]
        lines += [
            "## N = 10,000: plan and the comment",
            "",
            f"- plan with {r['plan_changes']} changed aliases (1 %), best of 2: "
            f"{r['plan_s']:.2f} s, {r['plan_requests']} requests ({r['plan_state_reads']} state "
            f"reads, limit {r['plan_read_limit']}; {r['plan_evidence_reads']} evidence), peak "
            f"memory {r['plan_peak_mb']:.0f} MB. Requests: {endpoints(r['plan_endpoints'])}.",
            f"- `plan --format markdown` of {r['comment_changes']} changes: "
            f"{r['comment_chars']:,} characters (GitHub's limit is 65,536), "
            f"{r['comment_rows']} rows of the one summary table, then the detailed evidence "
            f"that fits ({r['comment_s']:.2f} s).",
            "",
        ]
    return "\n".join(lines)


def kept_profile(path: Path) -> str:
    """The hand-written profile section of an earlier BENCHMARKS.md, carried over unchanged."""
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8")
    at = text.find(PROFILE_HEADING)
    return "\n" + text[at:] if at >= 0 else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument(
        "--installed",
        type=Path,
        help="a virtualenv with the tool installed as users install it (mlflow-skinny): the "
        "N = 1,000 comparisons run there too, and its figures decide those targets",
    )
    args = parser.parse_args()

    started, load = datetime.now(UTC), os.getloadavg()[0]
    assert "mlflow" not in sys.modules, "imported here, it would inflate every child's ru_maxrss"
    clock = time.perf_counter()
    benches = {1000: bench_1000, 10_000: bench_10000}
    results: dict[int | str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        for size in args.sizes:
            results[size] = benches[size](Path(folder) / str(size))
        if args.installed and 1000 in args.sizes:
            results[DEVELOPMENT] = results.pop(1000)
            results[1000] = bench_1000(Path(folder) / "installed", args.installed / "bin")
    text = report(results, started, time.perf_counter() - clock, load)
    print("\n".join(verdicts(results)))
    args.out.write_text(text + "\n" + kept_profile(args.out), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
