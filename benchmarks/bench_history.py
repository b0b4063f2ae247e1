"""Benchmark: `history` over a generated repository whose manifest changed in N commits.

Builds the repository with one `git fast-import` (seconds, not minutes): every commit moves one
model's champion, and one commit half-way renames registry.yaml to deploy/registry.yaml, so the
rename-following path is measured too. Then times
  git      gitops.manifest_revisions (one `git log`, one `git cat-file --batch`)
  parse    history.alias_changes (in-place value edits patched, others parsed in full; diff)
  baseline a full parse (libyaml composer + validation) of every revision, as before patching
  process  `python -m controller history` as a whole process, output discarded
Run: python -m benchmarks.bench_history [--commits 2000] [--models 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import git

from controller.gitops import manifest_revisions
from controller.history import _RevisionReader, alias_changes

EPOCH = 1_700_000_000


def manifest(versions: list[int]) -> str:
    models = "".join(
        f"  model-{i}:\n    aliases:\n      champion: {v}  # serving\n      challenger: {v + 1}\n"
        for i, v in enumerate(versions)
    )
    return f"# generated\nversion: 1\nmodels:\n{models}"


def data(text: str) -> bytes:
    payload = text.encode()
    return b"data %d\n%s\n" % (len(payload), payload)


def fast_import_stream(commits: int, models: int) -> bytes:
    """`commits` commits touching the manifest; the middle one is a pure rename."""
    versions = [1] * models
    path, chunks = "registry.yaml", []
    for n in range(commits):
        header = b"commit refs/heads/main\nmark :%d\n" % (n + 1)
        who = b"Bench <bench@example.com> %d +0000\n" % (EPOCH + 60 * n)
        chunks += [header, b"author " + who, b"committer " + who]
        if n == commits // 2:
            chunks += [data("move the manifest"), b"from :%d\n" % n]
            chunks.append(f"R {path} deploy/registry.yaml\n".encode())
            path = "deploy/registry.yaml"
            continue
        model = n % models
        versions[model] += 1 if n else 0
        chunks.append(data(f"promote model-{model}@champion: -> {versions[model]}"))
        if n:
            chunks.append(b"from :%d\n" % n)
        chunks += [f"M 100644 inline {path}\n".encode(), data(manifest(versions))]
    return b"".join(chunks)


def build_repo(folder: Path, commits: int, models: int) -> Path:
    repo = git.Repo.init(folder, initial_branch="main")
    stream = folder / "stream.fi"
    stream.write_bytes(fast_import_stream(commits, models))
    with stream.open("rb") as istream:
        repo.git.execute(["git", "fast-import", "--quiet"], istream=istream)
    stream.unlink()
    repo.git.checkout("-f", "main")
    return folder / "deploy" / "registry.yaml"


def best_of(runs: int, action: object) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = action()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        path = build_repo(Path(root), args.commits, args.models)
        print(f"built {args.commits} commits in {time.perf_counter() - start:.2f} s")

        git_s, revisions = best_of(args.runs, lambda: manifest_revisions(path))
        parse_s, (entries, warnings) = best_of(args.runs, lambda: alias_changes(revisions))
        # Baseline: what alias_changes did before it patched in-place edits, a full parse of
        # every revision (a fresh reader has no previous revision to patch).
        full_s, _ = best_of(
            args.runs,
            lambda: [_RevisionReader().declared(r.text, r.path) for r in revisions if r.text],
        )
        assert len(revisions) == args.commits, len(revisions)
        assert not warnings, warnings
        # the first commit declares every alias; each later one but the rename moves two
        assert len(entries) == 2 * args.models + 2 * (args.commits - 2), len(entries)

        command = [sys.executable, "-m", "controller", "history", "-f", str(path)]
        process = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            process.append(time.perf_counter() - start)

    print(f"revisions={len(revisions)} entries={len(entries)} models={args.models}")
    print(f"git (log + cat-file --batch): {git_s:.3f} s")
    print(f"parse + diff:                 {parse_s:.3f} s")
    print(f"baseline, full parse of each: {full_s:.3f} s ({full_s / parse_s:.0f}x slower)")
    print(f"in-process total:             {git_s + parse_s:.3f} s")
    print(
        f"whole process `history`:      median {statistics.median(process):.3f} s, "
        f"min {min(process):.3f} s over {args.runs} runs"
    )


if __name__ == "__main__":
    main()
