"""Benchmark: one reconcile cycle of a warm `mlflow-gitops controller`, next to the CLI's
whole-process `plan` of the same manifest, at N = 1,000 and 10,000 models.

For each N: seed a SQLite store (N models x 3 versions x 2 aliases, already managed), start a
real `mlflow server` on it, push the matching manifest to a bare repository, and start the
controller on it (a long --interval, so only the signed push hook triggers a cycle). After its
first (cold) reconcile, each push hook makes one warm cycle: fetch, validate, plan (no changes:
the steady state), status and metrics; its time is the controller's own `duration_seconds`,
its requests are counted at the server. Then `mlflow-gitops plan` runs as a whole process.
Writes its section of BENCHMARKS.md (the other sections are left as they are).
Run: make bench, or python -m benchmarks.bench_controller [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import git

from testing.access_log import counted_requests
from testing.seed import manifest_text, model_names
from testing.server import free_port, running_server, server_log

ROOT = Path(__file__).resolve().parent.parent
TOOL = str(Path(sys.executable).parent / "mlflow-gitops")
HEADING = "## Controller: a warm reconcile cycle"
WARM_CYCLES = 5
PLAN_RUNS = 2
SECRET = "bench-hook-secret"
WAIT_S = 900.0


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def last_reconcile(url: str) -> dict | None:
    try:
        return get_json(f"{url}/api/status")["manifests"][0]["last_reconcile"]
    except OSError:
        return None


def push_hook(url: str) -> None:
    body = b'{"ref": "refs/heads/main"}'
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{url}/hooks/git", body, {"X-Hub-Signature-256": signature}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202


def wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        time.sleep(0.05)


def bench_size(count: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-controller-{count}-") as folder:
        root = Path(folder)
        database = root / "mlflow.db"
        seed = [sys.executable, "-m", "testing.seed", str(database), str(count)]
        subprocess.run(seed, check=True, cwd=ROOT, stderr=subprocess.DEVNULL)
        progress(f"N={count}: seeded")
        manifest = root / "work" / "registry.yaml"
        work = git.Repo.init(root / "work", initial_branch="main")
        manifest.write_text(manifest_text(model_names(count), set()))
        work.index.add(["registry.yaml"])
        work.index.commit("declare", author=git.Actor("bench", "bench@example.com"))
        git.Repo.init(root / "origin.git", bare=True, initial_branch="main")
        work.git.push(str(root / "origin.git"), "HEAD:refs/heads/main")

        with running_server(root, f"sqlite:///{database}") as registry:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            command = [
                TOOL, "controller", "--repo", f"file://{root / 'origin.git'}",
                "--state-dir", str(root / "state"), "--interval", "3600",
                "--listen", f"127.0.0.1:{port}", "--tracking-uri", registry,
            ]  # fmt: skip
            env = {**os.environ, "MLFLOW_GITOPS_GIT_HOOK_SECRET": SECRET}
            started = time.perf_counter()
            with (root / "controller.log").open("wb") as log:
                process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
            try:
                wait_for(lambda: last_reconcile(url) is not None, "the first reconcile")
                first_s = time.perf_counter() - started
                cold = last_reconcile(url) or {}
                if cold.get("result") != "no_changes":
                    raise RuntimeError(
                        f"first reconcile: {cold}\n{(root / 'controller.log').read_text()[-3000:]}"
                    )
                progress(f"N={count}: first reconcile {cold['duration_seconds']:.2f} s")
                warm: list[dict] = []
                requests: list[int] = []
                hooked: list[float] = []
                for _ in range(WARM_CYCLES):
                    before = cold["started_at"] if not warm else warm[-1]["started_at"]
                    with counted_requests(registry, server_log(root)) as counted:
                        clock = time.perf_counter()
                        push_hook(url)
                        wait_for(
                            lambda b=before: (last_reconcile(url) or {}).get("started_at", b) > b,
                            "a warm reconcile",
                        )
                        hooked.append(time.perf_counter() - clock)
                    warm.append(last_reconcile(url) or {})
                    requests.append(len(counted.seen))
                rss_mb = _rss_mb(process.pid)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
            cycles = sorted(r["duration_seconds"] for r in warm)
            progress(f"N={count}: warm cycle median {cycles[len(cycles) // 2]:.2f} s")
            plans = []
            for _ in range(PLAN_RUNS):
                clock = time.perf_counter()
                subprocess.run(
                    [TOOL, "plan", "-f", str(manifest), "--tracking-uri", registry],
                    check=True, cwd=root / "work", capture_output=True,
                )  # fmt: skip
                plans.append(time.perf_counter() - clock)
            progress(f"N={count}: whole-process plan {min(plans):.2f} s")
    return {
        "n": count,
        "start_to_first_s": first_s,
        "first_s": cold["duration_seconds"],
        "warm_median_s": cycles[len(cycles) // 2],
        "warm_best_s": cycles[0],
        "hook_median_s": sorted(hooked)[len(hooked) // 2],
        "warm_requests": max(requests),
        "plan_s": min(plans),
        "rss_mb": rss_mb,
    }


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def section(results: list[dict], load: float) -> str:
    rows = [
        "| N | warm cycle (median / best) | push hook to reconciled (median) | requests per cycle "
        "| CLI `plan`, whole process | warm speed-up | start to first reconcile (first cycle) "
        "| controller peak memory |",
        "|" + "---|" * 8,
    ]
    for r in results:
        rows.append(
            f"| {r['n']:,} | {r['warm_median_s']:.2f} / {r['warm_best_s']:.2f} s "
            f"| {r['hook_median_s']:.2f} s | {r['warm_requests']} | {r['plan_s']:.2f} s "
            f"| **{r['plan_s'] / r['warm_median_s']:.1f}x** "
            f"| {r['start_to_first_s']:.2f} s ({r['first_s']:.2f} s) | {r['rss_mb']:.0f} MB |"
        )
    return "\n".join(
        [
            HEADING,
            "",
            f"Generated by `make bench` (`benchmarks/bench_controller.py`) on "
            f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {os.cpu_count()} cores shared "
            f"with other work (1-minute load average {load:.1f} at the start). Each N is a freshly "
            "seeded store of N managed models x 2 aliases behind a real `mlflow server` (SQLite, "
            "1 worker), and a manifest that matches it (the steady state: no changes). A *warm "
            "cycle* is one reconcile of the running controller after a signed push hook: "
            "validate, plan (state reads, ownership, git-confirmed records), status and metrics; "
            f"its time is the controller's own `duration_seconds` over {WARM_CYCLES} cycles, and "
            "its requests are counted at the server. *Push hook to reconciled* adds the hook's "
            "HTTP round trip and the fetch of the bare repository, as a client sees it through "
            "`/api/status`. The CLI's `plan` "
            "is the same plan as a whole process (interpreter, imports, MLflow's client), best "
            f"of {PLAN_RUNS}.",
            "",
            *rows,
            "",
            "The warm cycle saves what a process pays before its first request (interpreter, "
            "imports, MLflow's client: seconds) and nothing after it: the steady state's reads "
            "are the same searches as `plan`'s (one per 1,000 models, one per 100). At 10,000 "
            "models those reads are the cycle: profiled in-process (cProfile, 2026-12-03, under a "
            "1-minute load average of 12-16), `api.plan` was 89 % of a warm cycle, about half of "
            "it waiting for the server's answers and a fifth parsing MLflow's protobuf JSON; "
            "the controller's own work (validate, heals, status, metrics) was the rest. An "
            "interval shorter than a cycle makes the controller reconcile back to back.",
            "",
        ]
    )


def write_section(path: Path, text: str) -> None:
    """Replace this benchmark's section of BENCHMARKS.md, or add it at the end."""
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    at = current.find(HEADING)
    if at < 0:
        path.write_text(current.rstrip("\n") + "\n\n" + text, encoding="utf-8")
        return
    following = current.find("\n## ", at + len(HEADING))
    rest = current[following + 1 :] if following >= 0 else ""
    path.write_text(current[:at] + text + ("\n" + rest if rest else ""), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    results = [bench_size(count) for count in args.sizes]
    text = section(results, load)
    print(text)
    write_section(args.out, text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
