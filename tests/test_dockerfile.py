"""The Dockerfile: its build steps really produce a working runtime environment, and the image
runs as a non-root user with no development packages on a pinned base.

No Docker engine runs here, so the build stage's own RUN, COPY, ENV and WORKDIR lines are
carried out in a temporary folder standing in for the image's root, with a fresh venv standing in
for the base image's Python; the final stage keeps only the environment they built.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import urllib.request
import venv
from functools import partial
from pathlib import Path

import git
import pytest
import yaml

from testing.dockerfile import env_pairs, read_stages
from testing.repos import commit_file, make_repo
from testing.server import free_port
from testing.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
BASE = re.compile(r"python:3\.11\.\d+-slim-bookworm")
DEV_PACKAGES = ("pytest", "ruff", "mypy", "selenium", "hypothesis", "mlflow", "scikit-learn")


STAGES = read_stages()
BUILD, RUNTIME = STAGES


def test_both_stages_use_one_pinned_slim_python_base() -> None:
    assert len(STAGES) == 2
    assert BUILD.base == RUNTIME.base
    assert BASE.fullmatch(RUNTIME.base), f"pin the base to python:3.11.N-slim-bookworm: {BASE}"


def test_the_image_runs_as_a_non_root_user_from_the_entrypoint_on() -> None:
    users = RUNTIME.all("USER")
    assert len(users) == 1
    uid, _, gid = users[0].partition(":")
    assert uid.isdigit() and int(uid) > 0, "a numeric non-root uid (runAsNonRoot checks it)"
    assert gid.isdigit() and int(gid) > 0
    names = [name for name, _ in RUNTIME.steps]
    assert names.index("USER") > max(i for i, name in enumerate(names) if name in {"RUN", "COPY"})
    assert "RUN" not in names[names.index("USER") :]


def test_the_environment_is_the_locked_runtime_install_only_with_compiled_bytecode() -> None:
    syncs = [run for run in BUILD.all("RUN") if run.startswith("uv sync")]
    assert syncs
    for sync in syncs:
        words = sync.split()
        assert "--frozen" in words and "--no-dev" in words and "--compile-bytecode" in words
        assert not {"--all-groups", "--group", "--extra", "--all-extras", "--dev"} & set(words)
    assert "--no-editable" in syncs[-1].split()  # the final stage has no source to point at


def test_the_final_stage_holds_the_built_environment_and_nothing_of_the_source() -> None:
    copies = RUNTIME.all("COPY")
    assert copies == ["--from=build /app/.venv /app/.venv"]
    assert "/app/.venv/bin" in env_pairs(" ".join(RUNTIME.all("ENV")))["PATH"]


def test_the_entrypoint_is_the_cli_and_the_default_command_the_controller_on_the_exposed_port() -> (
    None
):
    assert RUNTIME.exec_form("ENTRYPOINT") == ["mlflow-gitops"]
    command = RUNTIME.exec_form("CMD")
    assert command[0] == "controller"
    listen = command[command.index("--listen") + 1]
    assert listen.rpartition(":")[2] == RUNTIME.all("EXPOSE")[0]
    state_dir = command[command.index("--state-dir") + 1]
    workdir = RUNTIME.all("WORKDIR")[-1]
    assert state_dir.startswith(workdir + "/"), "the state dir lives on the writable volume"
    assert env_pairs(" ".join(RUNTIME.all("ENV")))["HOME"] == workdir
    (create_user,) = [run for run in RUNTIME.all("RUN") if run.startswith("useradd")]
    assert f"--home-dir {workdir}" in create_user and "--create-home" in create_user, (
        "the user owns its working directory, so `docker run` can write the state there"
    )


def dockerignored(path: str) -> bool:
    """Docker's rule: the last matching pattern of .dockerignore decides (`!` keeps)."""
    ignored = False
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        keep = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern.removeprefix("**/")):
            ignored = not keep
    return ignored


def test_the_build_context_sends_what_the_build_copies_and_not_the_rest() -> None:
    sources = [
        source
        for copy in BUILD.all("COPY")
        for source in copy.split()[:-1]
        if not source.startswith("--")
    ]
    assert sources == ["pyproject.toml", "uv.lock", "README.md", "controller"]
    assert not [source for source in sources if dockerignored(source)]
    for left_out in (".venv", ".git", "tests", "testing", "benchmarks", "mlflow.db", ".tools"):
        assert dockerignored(left_out), left_out


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build stage, step by step, with `/` a temporary folder and the base image's Python a
    fresh venv; then, as the final stage copies only the environment, the source is removed."""
    root = tmp_path_factory.mktemp("image")
    base = root / "usr" / "local"
    venv.create(base, with_pip=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("UV_", "PIP_", "VIRTUAL_ENV", "PYTHON"))
    }
    env["PATH"] = f"{base / 'bin'}{os.pathsep}{env['PATH']}"
    workdir = root
    for instruction, argument in BUILD.steps:
        if instruction == "ENV":
            env.update(env_pairs(argument))
        elif instruction == "WORKDIR":
            workdir = root / argument.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            *sources, destination = argument.split()
            for source in sources:  # Docker's rules: a folder's contents, a file into a folder
                if (ROOT / source).is_dir():
                    shutil.copytree(
                        ROOT / source,
                        workdir / destination,
                        ignore=shutil.ignore_patterns("__pycache__"),
                    )
                else:
                    assert destination.endswith("/"), "files are copied into a folder"
                    shutil.copy2(ROOT / source, workdir / destination / Path(source).name)
        else:
            assert instruction == "RUN", instruction
            subprocess.run(
                ["sh", "-c", argument], cwd=workdir, env=env, check=True, timeout=900
            )  # timeout: a hang guard, not a timing assertion
    shutil.rmtree(root / "app" / "controller")
    return root


def runtime_environment(root: Path) -> dict[str, str]:
    """The final stage's ENV, its paths under `root`; the system's git, as the image installs."""
    env = env_pairs(" ".join(RUNTIME.all("ENV")))
    env["PATH"] = f"{root / 'app' / '.venv' / 'bin'}{os.pathsep}/usr/bin:/bin"
    env["HOME"] = str(root / env["HOME"].lstrip("/"))
    Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
    return env


@pytest.mark.network
def test_the_build_steps_make_an_environment_that_runs_without_the_source(
    image_root: Path,
) -> None:
    env = runtime_environment(image_root)

    def run(*args: str) -> str:
        done = subprocess.run(
            args, cwd=env["HOME"], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert run("mlflow-gitops", "--version").strip()
    assert "--listen" in run("mlflow-gitops", *RUNTIME.exec_form("CMD"), "--help")
    installed = json.loads(
        run(
            "python",
            "-c",
            "import json, importlib.metadata as m;"
            "print(json.dumps(sorted(d.metadata['Name'].lower() for d in m.distributions())))",
        )
    )
    assert "mlflow-skinny" in installed and "mlflow-gitops" in installed
    assert not set(DEV_PACKAGES) & set(installed), "development packages in the image"
    site = next((image_root / "app" / ".venv" / "lib").glob("python3.*/site-packages"))
    assert list((site / "controller" / "__pycache__").glob("cli.*.pyc")), "bytecode compiled"


def answers_ok(url: str) -> bool:
    """What a kubelet's HTTP probe counts as success (any 2xx or 3xx; we expect 200)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status) == 200
    except OSError:  # refused, not yet listening, or an HTTP error status
        return False


@pytest.mark.network
@pytest.mark.server
def test_the_deployment_command_run_from_the_image_environment_applies_and_answers_probes(
    image_root: Path, mlflow_server: str, make_model, server_client, tmp_path: Path
) -> None:
    """deploy/deployment.yaml's container as the image would run it (only the built
    environment, HOME and the state dir on their volume), against a real server and a bare
    repository: the probes answer on the declared paths, the manifest is applied, SIGTERM
    exits 0. Only the addresses change: the repository, the server and a free loopback port."""
    deployment = yaml.safe_load((ROOT / "deploy" / "deployment.yaml").read_text("utf-8"))
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    model = make_model("image", versions=2)
    origin = tmp_path / "origin.git"
    git.Repo.init(origin, bare=True, initial_branch="main")
    work = make_repo(tmp_path / "work")
    declared = f"version: 1\nmodels:\n  {model}:\n    aliases:\n      champion: 2\n"
    commit_file(work, "registry.yaml", declared, "declare")
    work.git.push(str(origin), "HEAD:refs/heads/main")

    port = free_port()
    args = list(container["args"])
    replaced = {
        "--repo": f"file://{origin}",
        "--listen": f"127.0.0.1:{port}",
        "--state-dir": str(image_root / container["args"][args.index("--state-dir") + 1][1:]),
    }
    for flag, value in replaced.items():
        args[args.index(flag) + 1] = value
    env = runtime_environment(image_root)
    env |= {v["name"]: v["value"] for v in container["env"] if "value" in v}
    env["MLFLOW_TRACKING_URI"] = mlflow_server
    probes = {
        kind: f"http://127.0.0.1:{port}{container[kind]['httpGet']['path']}"
        for kind in ("livenessProbe", "readinessProbe")
    }
    log = tmp_path / "controller.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*RUNTIME.exec_form("ENTRYPOINT"), *args],
            cwd=image_root / RUNTIME.all("WORKDIR")[-1].lstrip("/"),
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        for kind, url in probes.items():
            try:
                wait_until(partial(answers_ok, url), kind)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; the controller's log:\n{log.read_text()}") from None
        aliases = server_client.get_registered_model(model).aliases
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert aliases == {"champion": "2"}
