"""Benchmark: plan and apply at N = 100, 1,000 and 5,000 models, against the loops users write.

For each N: seed a SQLite store directly (N models x 3 versions x 2 aliases), start a real
`mlflow server` on it, then run as whole processes
  plan   `mlflow-gitops plan` with 1 % of the aliases changed  vs  naive_loops.py plan
  apply  `mlflow-gitops apply` of 100 alias changes           vs  naive_loops.py apply
counting each one's HTTP requests in the server's access log and the tool's peak memory (the
child's ru_maxrss from wait4). Prints a table and writes BENCHMARKS.md.
Run: make bench, or python -m benchmarks.bench_scale [--sizes 100 1000] [--naive-sample 1000]
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from testing.access_log import Requests, counted_requests
from testing.seed import every_nth, manifest_text, model_names
from testing.server import running_server, server_log

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOOL = str(BIN / "mlflow-gitops")
NAIVE = [sys.executable, "-m", "benchmarks.naive_loops"]
APPLY_CHANGES = 100
PLAN_RUNS = 3
PROCESS_TIMEOUT_S = 600
PROFILE_HEADING = "## Profile"
NAIVE_IN_FULL_UP_TO = 1000  # the plan target is at N = 1,000: never extrapolated there

TARGET_PLAN_RATIO = 30
TARGET_APPLY_RATIO = 5
TARGET_PEAK_MB = 250
# The reads of the registry's state, as opposed to the evidence of changed aliases.
STATE_READS = {
    "GET /api/2.0/mlflow/registered-models/search",
    "GET /api/2.0/mlflow/model-versions/search",
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


def bench_size(count: int, naive_sample: int) -> dict:
    """Every measurement for one N, on its own freshly seeded server."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{count}-") as folder:
        root = Path(folder)
        start = time.perf_counter()
        # In a child: this process must never import mlflow. A child's ru_maxrss starts at its
        # parent's resident size when forked, so a big parent would hide the tool's own peak.
        database = root / "mlflow.db"
        seed = [sys.executable, "-m", "testing.seed", str(database), str(count)]
        subprocess.run(seed, check=True, cwd=ROOT, stderr=subprocess.DEVNULL)
        seed_s = time.perf_counter() - start
        progress(f"N={count}: seeded in {seed_s:.1f} s")
        names = model_names(count)
        plan_moved = set(every_nth(names, max(1, 2 * count // 100)))
        apply_moved = list(every_nth(names, APPLY_CHANGES))
        plan_file, forward, back = root / "plan.yaml", root / "forward.yaml", root / "back.yaml"
        plan_file.write_text(manifest_text(names, plan_moved))
        forward.write_text(manifest_text(names, set(apply_moved)))
        back.write_text(manifest_text(names, set()))

        with running_server(root, f"sqlite:///{database}") as url:
            log = server_log(root)

            def tool_run(verb: str, manifest: Path, expected: int) -> Run:
                approve = ["--auto-approve"] if verb == "apply" else []
                run = run_process(
                    [TOOL, verb, *approve, "-f", str(manifest), "--tracking-uri", url], url, log
                )
                if tool_changes(run.stdout, verb) != expected:
                    raise RuntimeError(f"{verb} expected {expected} changes:\n{run.stdout[-2000:]}")
                return run

            plans = [tool_run("plan", plan_file, len(plan_moved)) for _ in range(PLAN_RUNS)]
            progress(f"N={count}: plan {best(plans).seconds:.2f} s")

            sample = count if count <= NAIVE_IN_FULL_UP_TO else naive_sample
            naive = run_process(
                [*NAIVE, "plan", str(plan_file), url, "--models", str(sample)], url, log
            )
            found = naive_result(naive)
            if sample == count and found["changes"] != len(plan_moved):
                raise RuntimeError(
                    f"naive plan found {found['changes']} changes, not {len(plan_moved)}"
                )
            scale = count / sample
            naive_plan_s = naive.seconds + found["loop_s"] * (scale - 1)
            naive_plan_requests = round(len(naive.requests.seen) * scale)
            progress(f"N={count}: naive plan {naive_plan_s:.1f} s ({sample} models run)")

            applies = [
                tool_run("apply", forward, APPLY_CHANGES),
                tool_run("apply", back, APPLY_CHANGES),
            ]
            naive_applies = [
                run_process([*NAIVE, "apply", url, "champion", version, *apply_moved], url, log)
                for version in ("3", "2")
            ]
            apply_s, naive_apply_s = best(applies).seconds, best(naive_applies).seconds
            progress(f"N={count}: apply {apply_s:.2f} s, naive {naive_apply_s:.2f} s")
            # Both loops ended where they began: a plan of the original manifest finds nothing.
            check = [TOOL, "plan", "-f", str(back), "--tracking-uri", url, "--detailed-exitcode"]
            run_process(check, url, log)

    plan, apply, naive_apply = best(plans), best(applies), best(naive_applies)
    return {
        "n": count,
        "seed_s": seed_s,
        "plan_changes": len(plan_moved),
        "plan_s": plan.seconds,
        "plan_reads": plan.requests.reads,
        "plan_state_reads": sum(
            n for endpoint, n in plan.requests.by_endpoint().items() if endpoint in STATE_READS
        ),
        "plan_writes": plan.requests.writes,
        "plan_endpoints": plan.requests.by_endpoint(),
        "plan_read_limit": 2 * math.ceil(count / 100) + 2,
        "naive_plan_s": naive_plan_s,
        "naive_plan_requests": naive_plan_requests,
        "naive_sampled": sample < count,
        "naive_sample": sample,
        "apply_s": apply.seconds,
        "apply_reads": apply.requests.reads,
        "apply_writes": apply.requests.writes,
        "apply_endpoints": apply.requests.by_endpoint(),
        "naive_apply_s": naive_apply.seconds,
        "naive_apply_requests": len(naive_apply.requests.seen),
        "plan_peak_mb": max(r.peak_mb for r in plans),
        "apply_peak_mb": max(r.peak_mb for r in applies),
    }


def ratio(slow: float, fast: float) -> str:
    return f"{slow / fast:.1f}x"


def table(results: list[dict]) -> str:
    rows = [
        "| N | plan | naive plan | plan speed-up | plan reads: state (limit) + evidence "
        "| naive plan requests "
        "| apply 100 | naive apply 100 | apply speed-up | apply requests (reads + writes) "
        "| naive apply requests | peak memory plan / apply |",
        "|" + "---|" * 12,
    ]
    for r in results:
        mark = "~" if r["naive_sampled"] else ""
        rows.append(
            f"| {r['n']:,} | {r['plan_s']:.2f} s | {mark}{r['naive_plan_s']:.1f} s "
            f"| **{mark}{ratio(r['naive_plan_s'], r['plan_s'])}** "
            f"| {r['plan_state_reads']} ({r['plan_read_limit']}) + "
            f"{r['plan_reads'] - r['plan_state_reads']} "
            f"| {mark}{r['naive_plan_requests']:,} "
            f"| {r['apply_s']:.2f} s | {r['naive_apply_s']:.2f} s "
            f"| **{ratio(r['naive_apply_s'], r['apply_s'])}** "
            f"| {r['apply_reads'] + r['apply_writes']} ({r['apply_reads']} + {r['apply_writes']}) "
            f"| {r['naive_apply_requests']} "
            f"| {r['plan_peak_mb']:.0f} / {r['apply_peak_mb']:.0f} MB |"
        )
    return "\n".join(rows)


def verdicts(results: list[dict]) -> list[str]:
    """Each target of issue 13, met or missed by how much, from this run's figures."""
    by_n = {r["n"]: r for r in results}
    lines = []
    if 1000 in by_n:
        r = by_n[1000]
        got = r["naive_plan_s"] / r["plan_s"]
        lines.append(
            verdict(
                f"plan at N=1,000 >= {TARGET_PLAN_RATIO}x faster than naive",
                got >= TARGET_PLAN_RATIO,
                f"{got:.1f}x",
            )
        )
    for r in results:
        lines.append(
            verdict(
                f"plan at N={r['n']:,}: at most {r['plan_read_limit']} read requests for the "
                "registry's state",
                r["plan_state_reads"] <= r["plan_read_limit"] and r["plan_writes"] == 0,
                f"{r['plan_state_reads']} state reads, {r['plan_writes']} writes; plus "
                f"{r['plan_reads'] - r['plan_state_reads']} evidence reads for "
                f"{r['plan_changes']} changed aliases",
            )
        )
    for r in results:
        got = r["naive_apply_s"] / r["apply_s"]
        lines.append(
            verdict(
                f"apply of 100 changes at N={r['n']:,} >= {TARGET_APPLY_RATIO}x faster than naive",
                got >= TARGET_APPLY_RATIO,
                f"{got:.2f}x",
            )
        )
    if 5000 in by_n:
        r = by_n[5000]
        peak = max(r["plan_peak_mb"], r["apply_peak_mb"])
        lines.append(
            verdict(
                f"peak memory at N=5,000 < {TARGET_PEAK_MB} MB",
                peak < TARGET_PEAK_MB,
                f"{peak:.0f} MB",
            )
        )
    return lines


def verdict(target: str, met: bool, got: str) -> str:
    return f"- {'met' if met else 'MISSED'}: {target} (measured {got})"


def report(results: list[dict], started: datetime, total_s: float, load: float) -> str:
    mlflow_version = importlib.metadata.version("mlflow")
    endpoint_rows = [
        f"- N={r['n']:,}: " + ", ".join(f"{k} x{v}" for k, v in r["apply_endpoints"].items())
        for r in results
    ]
    plan_rows = [
        f"- N={r['n']:,} ({r['plan_changes']} changed aliases): "
        + ", ".join(f"{k} x{v}" for k, v in r["plan_endpoints"].items())
        for r in results
    ]
    sampled = [r for r in results if r["naive_sampled"]]
    notes = [
        f"- `~`: the naive plan loop ran over the first {r['naive_sample']:,} of {r['n']:,} "
        "models; "
        "its time is the whole process plus its measured loop time scaled to N, its requests "
        "scaled the same way (the loop makes exactly 2 per alias)."
        for r in sampled
    ]
    return "\n".join(
        [
            "# Benchmarks",
            "",
            f"Generated by `make bench` (`benchmarks/bench_scale.py`) on "
            f"{started:%Y-%m-%d %H:%M} UTC: {os.cpu_count()} cores shared with other work "
            f"(1-minute load average {load:.1f} at the start), Python {platform.python_version()}, "
            f"mlflow {mlflow_version}, a real `mlflow server` (SQLite, 1 worker) on 127.0.0.1. "
            f"The whole run took {total_s / 60:.1f} minutes, seeding included.",
            "",
            "## Scale: plan and apply as whole processes",
            "",
            "Ratios are the headline: absolute times drift on a shared machine, ratios measured "
            "in the same minute much less. Each N has its own freshly seeded store: N registered "
            "models x 3 versions x 2 aliases (`champion` -> 2, `challenger` -> 3), each carrying "
            "the last-applied tag, so the tool sees models it already manages.",
            "",
            table(results),
            "",
            "### Targets (issue 13)",
            "",
            *verdicts(results),
            "",
            "### What each column is",
            "",
            "- **plan**: `mlflow-gitops plan -f registry.yaml` (text output) with 1 % of the "
            f"aliases changed (2N/100 `champion` moves), best of {PLAN_RUNS} runs. **naive plan**: "
            "`benchmarks/naive_loops.py plan`, the loop a user writes with `MlflowClient`: per "
            "declared alias `get_model_version_by_alias` then `get_model_version`, one run.",
            "- **apply 100**: `mlflow-gitops apply` of a manifest moving 100 `champion` aliases "
            "(plan, writes, read-back, last-applied and audit tags), best of 2 runs (forward and "
            "back). **naive apply 100**: `set_registered_model_alias` for the same 100, one after "
            "another, best of 2 runs. Both are whole processes, interpreter start and imports "
            "included.",
            "- **requests** are counted at the server: uvicorn's access log (which `mlflow server` "
            "writes by default, one line per request) between two marker requests. Reads are GET, "
            "writes anything else.",
            "- **plan reads**: *state* are the searches that read the registry (the models this "
            "manifest owns, declared models it does not own yet, and every declared model's "
            "versions), which issue 13's limit `2·⌈N/100⌉ + 2` is about; *evidence* are the "
            "reads issue 11 added for each changed alias, which that limit predates: per "
            "distinct version `model-versions/get` and `model-versions/get-download-uri` (plus "
            "the `MLmodel` file and `runs/get`, which the seeded `s3://` versions without runs "
            "do not have). They grow with the changes under review, not with N.",
            "- **peak memory**: the largest `ru_maxrss` of the `mlflow-gitops plan` and of the "
            "`apply` processes at that N (from `wait4`, per process).",
            *notes,
            "",
            "Where the tool's plan requests go (the best run):",
            "",
            *plan_rows,
            "",
            "Where the tool's apply requests go (the best run):",
            "",
            *endpoint_rows,
        ]
    )


def kept_profile(path: Path) -> str:
    """The hand-written profile section of an earlier BENCHMARKS.md, carried over unchanged."""
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8")
    at = text.find(PROFILE_HEADING)
    return "\n" + text[at:] if at >= 0 else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument(
        "--naive-sample", type=int, default=500,
        help=f"above N={NAIVE_IN_FULL_UP_TO:,}, run the naive plan loop over this many models "
        "and extrapolate",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()

    started, load = datetime.now(UTC), os.getloadavg()[0]
    assert "mlflow" not in sys.modules, "imported here, it would inflate every child's ru_maxrss"
    clock = time.perf_counter()
    results = [bench_size(count, args.naive_sample) for count in args.sizes]
    text = report(results, started, time.perf_counter() - clock, load)
    print(table(results))
    print("\n".join(verdicts(results)))
    args.out.write_text(text + "\n" + kept_profile(args.out), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
