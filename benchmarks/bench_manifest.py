"""Benchmark: the strict manifest loader against a bare libyaml load, and hostile inputs.

  strict   manifest.parse_manifest (events, typed scalars, marks, pydantic, limits)
  bare     yaml.load with CSafeLoader: parsing alone, no checks and no marks (the floor)
  hostile  `python -m controller validate` on each attack of issue 8, as a whole process:
           seconds and peak memory (VmHWM) until it has refused the file
Run: python -m benchmarks.bench_manifest [--models 1000 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from controller.manifest import FAST_LOADER, MAX_NODES, parse_manifest
from testing.peak import MEASURED


def manifest(models: int) -> str:
    body = "".join(
        f"  model-{i}:\n    aliases:\n      champion: {i + 1}\n      challenger: {i + 2}\n"
        f"      shadow: null\n    prune: false\n"
        for i in range(models)
    )
    return f"version: 1\nmodels:\n{body}"


def best(repeat: int, load: Callable[[str], object], text: str) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        load(text)
        times.append(time.perf_counter() - start)
    return min(times)


def hostile() -> dict[str, str]:
    bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdef", "bcdefg", strict=True):
        bomb.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    head = "version: 1\nmodels:\n  m:\n    aliases:\n"
    return {
        "alias bomb (294 bytes)": "\n".join(bomb) + "\n",
        "50 MB of comments": ("# " + "x" * 77 + "\n") * (50 * 1024 * 1024 // 80),
        "10,000 levels of [": "[" * 10_000,
        f"{MAX_NODES + 1:,} nodes": "[" + "a," * (MAX_NODES + 1) + "]",
        "150,000 broken models": "version: 1\nmodels:\n"
        + "".join(f"  m{i}: x\n" for i in range(150_000)),
        "100,000 broken aliases": head + "".join(f"      a.{i}: 0{i}\n" for i in range(100_000)),
    }


def run_hostile(name: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "registry.yaml").write_text(text, encoding="utf-8")
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", MEASURED, "validate"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - start
    peak = int(re.search(r"peak-kib=(\d+)", proc.stderr).group(1)) / 1024
    first = proc.stdout.splitlines()[0] if proc.stdout else proc.stderr.splitlines()[0]
    print(f"  {name:26} exit {proc.returncode}  {seconds:5.2f} s  {peak:6.1f} MB  {first[:70]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"libyaml: {FAST_LOADER.__name__}")
    for models in args.models:
        text = manifest(models)
        strict = best(args.repeat, lambda t: parse_manifest(t, "registry.yaml"), text)
        bare = best(args.repeat, lambda t: yaml.load(t, Loader=FAST_LOADER), text)
        print(
            f"{models:6} models ({len(text) / 1024:.0f} KiB): strict {strict * 1000:.0f} ms, "
            f"bare {bare * 1000:.0f} ms, ratio {strict / bare:.2f}x"
        )
    print("hostile inputs, each a whole `validate` process:")
    for name, text in hostile().items():
        run_hostile(name, text)


if __name__ == "__main__":
    main()
