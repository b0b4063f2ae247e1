"""Promote through the manifest, then roll back, while `mlflow-gitops serve` keeps answering.

The manifest lives in a scratch git repository, so the demo never edits this checkout's
registry.yaml: promote and rollback commit there, apply reads it, and a client thread keeps
scoring against `serve`, recording which version answered each request. The repository is
kept afterwards, with its commits, for the reader to try things in.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from use import SAMPLE

TOOL = str(Path(sys.executable).parent / "mlflow-gitops")
WAIT_S = 120.0


def run(*args: str) -> str:
    """Run `mlflow-gitops ARGS` as a user would, echoing the command and its output."""
    print(f"$ mlflow-gitops {' '.join(args)}")
    result = subprocess.run([TOOL, *args], capture_output=True, text=True, check=False)
    print((result.stdout + result.stderr).rstrip())
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): mlflow-gitops {' '.join(args)}")
    return result.stdout


def get_json(url: str, body: bytes | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {"message": exc.read().decode(errors="replace")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"gave up waiting for {what}")
        time.sleep(0.1)


class Scorer(threading.Thread):
    """Scores SAMPLE against the server until stopped; records (status, version) per request."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.answers, self.stopping = url, [], threading.Event()

    def run(self) -> None:
        body = json.dumps({"dataframe_records": [SAMPLE]}).encode()
        while not self.stopping.is_set():
            request = urllib.request.Request(
                f"{self.url}/invocations", data=body, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as resp:
                    self.answers.append((resp.status, resp.headers["X-Model-Version"]))
            except (urllib.error.URLError, OSError) as exc:
                self.answers.append((getattr(exc, "code", 0), None))


def scratch_repo(manifest: Path) -> Path:
    repo = Path(tempfile.mkdtemp(prefix="bikes-gitops-"))
    shutil.copy(manifest, repo / "registry.yaml")
    for args in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "config", "user.name", "Bikes Demo"],
        ["git", "config", "user.email", "bikes@example.com"],
        ["git", "config", "commit.gpgsign", "false"],
        ["git", "add", "registry.yaml"],
        ["git", "commit", "-q", "-m", "Adopt the bikes manifest"],
    ):
        subprocess.run(args, cwd=repo, check=True)
    return repo


def served_version(url: str) -> str:
    return get_json(f"{url}/version")[1]["version"]


def live(tracking_uri: str, manifest: Path, promote_to: str, refresh: float = 1.0) -> Path:
    """Promote and roll back while serving; the scratch repository is kept for a look after."""
    repo = scratch_repo(manifest)
    # Commands run here, not in the scratch repository: a relative sqlite:/// URI stays valid.
    target = ("-f", str(repo / "registry.yaml"), "--tracking-uri", tracking_uri)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve_args = ["bikes@champion", "--port", str(port), "--refresh", str(refresh)]
    print(f"$ mlflow-gitops serve {' '.join(serve_args)} &")
    server = subprocess.Popen(
        [TOOL, "serve", *serve_args, "--tracking-uri", tracking_uri], stderr=subprocess.DEVNULL
    )
    scorer = Scorer(url)
    try:
        wait_for(lambda: server.poll() is None and _answers(url), "serve to start")
        before = served_version(url)
        print(f"serving version {before}")
        scorer.start()
        run("promote", "bikes", "champion", promote_to, "--commit", *target)
        run("apply", "--auto-approve", *target)
        wait_for(lambda: served_version(url) == promote_to, f"serve to pick up {promote_to}")
        print(f"serving version {promote_to} (promoted, no restart)")
        run("rollback", "bikes", "champion", "--commit", *target)
        run("apply", "--auto-approve", *target)
        wait_for(lambda: served_version(url) == before, f"serve to roll back to {before}")
        print(f"serving version {before} (rolled back, no restart)")
        run("history", "bikes", "champion", "-f", str(repo / "registry.yaml"))
    finally:
        scorer.stopping.set()
        if scorer.is_alive():
            scorer.join()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    failed = [a for a in scorer.answers if a[0] != 200]
    order = [
        v for i, (_, v) in enumerate(scorer.answers) if i == 0 or v != scorer.answers[i - 1][1]
    ]
    print(
        f"{len(scorer.answers)} requests while promoting and rolling back: {len(failed)} failed; "
        f"versions in order: {' -> '.join(str(v) for v in order)}"
    )
    if failed or order != [before, promote_to, before]:
        sys.exit("serving did not follow the alias cleanly")
    return repo


def _answers(url: str) -> bool:
    try:
        return get_json(f"{url}/ping")[0] == 200
    except OSError:
        return False
