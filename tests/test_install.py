"""The install line a user runs: `uv tool install --compile-bytecode` from the checkout, into a
clean tool folder.

Installed this way the tool gets its runtime dependencies only (mlflow-skinny, not mlflow), so
this also proves that the registry client in mlflow-skinny is enough to plan against a server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

pytestmark = pytest.mark.network

if TYPE_CHECKING:
    from mlflow import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).parent / "uv"
MAX_ENVIRONMENT_MB = 200
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`uv tool install --compile-bytecode <checkout>` (the README's line) into a fresh
    UV_TOOL_DIR; the folder of the tools."""
    root = tmp_path_factory.mktemp("uv-tool")
    env = {
        **clean_environment(),
        "UV_TOOL_DIR": str(root / "tools"),
        "UV_TOOL_BIN_DIR": str(root / "bin"),
        "UV_PYTHON_DOWNLOADS": "never",
    }
    result = subprocess.run(
        [str(UV), "tool", "install", "--compile-bytecode", "--python", sys.executable, str(ROOT)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return root


def clean_environment() -> dict[str, str]:
    """This test's environment without this project's virtualenv or any MLflow setting."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH") and not k.startswith("MLFLOW_")
    }


def run_tool(
    installed: Path, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(installed / "bin" / "mlflow-gitops"), *args],
        cwd=cwd,
        env={**clean_environment(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def tool_python(installed: Path) -> Path:
    return installed / "tools" / "mlflow-gitops" / "bin" / "python"


def test_installed_tool_reports_its_version(installed: Path, tmp_path: Path) -> None:
    result = run_tool(installed, "--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"mlflow-gitops, version {VERSION}\n"


def test_installed_tool_starts_from_compiled_bytecode(installed: Path) -> None:
    """Without it every start compiles the tool and MLflow's client again (seconds)."""
    packages = installed / "tools" / "mlflow-gitops" / "lib"
    assert list(packages.glob("python3.*/site-packages/controller/__pycache__/cli.*.pyc"))
    assert list(packages.glob("python3.*/site-packages/mlflow/__pycache__/__init__.*.pyc"))


def test_serve_without_the_serve_extra_is_one_line_naming_the_extra(
    installed: Path, tmp_path: Path
) -> None:
    result = run_tool(
        installed, "serve", "bikes@champion", "--tracking-uri", "http://127.0.0.1:9", cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stderr == (
        "error: serving a model needs numpy and pandas, which the plain install leaves out: "
        "install mlflow-gitops[serve] (uv tool install 'mlflow-gitops[serve]')\n"
    )


def test_installed_tool_validates_a_manifest(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "registry.yaml").write_text("version: 1\nmodels:\n  bikes:\n    aliases: {a: 1}\n")
    result = run_tool(installed, "validate", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "registry.yaml: valid (1 model)\n")

    (tmp_path / "registry.yaml").write_text("version: 1\nmodels:\n  bikes:\n    aliases: {a: 0}\n")
    result = run_tool(installed, "validate", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("registry.yaml:4:18: ")


def test_installed_tool_has_the_registry_client_but_not_the_server(installed: Path) -> None:
    probe = (
        "import importlib.metadata as m, importlib.util as u;"
        "print(m.version('mlflow-skinny'), u.find_spec('sqlalchemy') is None,"
        " u.find_spec('sklearn') is None)"
    )
    result = subprocess.run(
        [str(tool_python(installed)), "-c", probe], capture_output=True, text=True, timeout=60
    )
    version, no_sqlalchemy, no_sklearn = result.stdout.split()
    assert version.startswith("3.17.")
    assert (no_sqlalchemy, no_sklearn) == ("True", "True")


@pytest.mark.parametrize(
    ("flag", "shown"),
    [
        ([], "sqlite:///mlflow.db"),
        (["--tracking-uri", "postgresql://ann:s3cret@db.internal/mlflow"], "postgresql://***@"),
    ],
    ids=["embedded-default", "postgresql"],
)
def test_database_registry_without_the_extra_is_one_line_naming_the_extra(
    installed: Path, tmp_path: Path, flag: list[str], shown: str
) -> None:
    (tmp_path / "registry.yaml").write_text("version: 1\nmodels:\n  bikes:\n    aliases: {a: 1}\n")
    result = run_tool(installed, "plan", *flag, cwd=tmp_path)
    assert result.returncode == 1
    *notes, line = result.stderr.splitlines()
    assert all(note.startswith("note: ") for note in notes)  # the embedded default says so
    assert line.startswith(f"error: the registry {shown}")
    assert line.endswith(
        "is a database, which needs full MLflow: install mlflow-gitops[embedded], "
        "or point --tracking-uri at an MLflow server"
    )
    assert "s3cret" not in result.stdout + result.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_installed_environment_is_small(installed: Path) -> None:
    folder = installed / "tools" / "mlflow-gitops"
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())
    assert size < MAX_ENVIRONMENT_MB * 1024 * 1024, f"{size / 2**20:.0f} MB"


@pytest.mark.server
def test_installed_tool_plans_and_applies_against_a_server_with_mlflow_skinny(
    installed: Path,
    tmp_path: Path,
    mlflow_server: str,
    make_model: Callable[..., str],
    server_client: MlflowClient,
) -> None:
    model = make_model("skinny", 2)
    manifest = f"version: 1\nmodels:\n  {model}:\n    aliases: {{champion: 2}}\n"
    (tmp_path / "registry.yaml").write_text(manifest)
    env = {"MLFLOW_TRACKING_URI": mlflow_server}

    plan = run_tool(installed, "plan", "--detailed-exitcode", cwd=tmp_path, env=env)
    assert plan.returncode == 2, plan.stderr
    assert f"+ {model}@champion: 2 (assign)" in plan.stdout

    apply = run_tool(installed, "apply", "--auto-approve", cwd=tmp_path, env=env)
    assert apply.returncode == 0, apply.stderr
    assert server_client.get_registered_model(model).aliases == {"champion": "2"}
