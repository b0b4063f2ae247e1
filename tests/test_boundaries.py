"""The architecture's boundaries: what each layer may import, checked on the real modules.

ruff's banned-api rule keeps `mlflow` and `git` in their one module each; these tests check
the layering ruff cannot express, and that offline commands never pay for mlflow.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import git
import pytest

from testing.repos import commit_file, make_repo

PACKAGE = Path(__file__).resolve().parents[1] / "controller"
# The functional core and the renderers: pure, so they never reach the modules doing I/O.
PURE = [
    "values.py", "plan.py", "state.py", "history.py", "commit_message.py", "render",
    "gates.py", "review.py", "evidence.py", "schedule.py", "trust.py", "policy.py",
]  # fmt: skip
DOING_IO = {
    "controller.apply", "controller.registry", "controller.gitops", "controller.api",
    "controller.records",
}  # fmt: skip


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def pure_files() -> list[Path]:
    files: list[Path] = []
    for name in PURE:
        path = PACKAGE / name
        files += sorted(path.glob("*.py")) if path.is_dir() else [path]
    return files


@pytest.mark.parametrize("path", pure_files(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_pure_modules_import_nothing_that_does_io(path: Path) -> None:
    imports = imported_modules(path)
    assert not imports & DOING_IO
    assert not {m for m in imports if m.split(".")[0] in ("mlflow", "git", "requests")}


@pytest.mark.parametrize(
    ("module", "allowed"),
    [("mlflow", ("registry/", "serving.py")), ("git", ("gitops.py",))],
)
def test_only_one_module_imports_each_outside_library(
    module: str, allowed: tuple[str, ...]
) -> None:
    importers = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if any(m == module or m.startswith(module + ".") for m in imported_modules(path))
    }
    assert importers
    assert all(importer.startswith(allowed) for importer in importers), importers


def test_the_library_changes_no_process_settings_on_import() -> None:
    """Environment defaults and logger levels are the CLI's business, not a library caller's."""
    probe = (
        "import logging, os\n"
        "before = dict(os.environ)\n"
        "from controller import api\n"
        "from controller.registry import Registry\n"
        "from controller.target import RegistryTarget\n"
        "Registry(RegistryTarget('http://127.0.0.1:9', 'http://127.0.0.1:9')).client\n"
        "from controller.registry import FAST_FAIL_DEFAULTS\n"
        "changed = {k for k in FAST_FAIL_DEFAULTS if os.environ.get(k) != before.get(k)}\n"
        "assert not changed, f'environment changed: {changed}'\n"
        "assert logging.getLogger('mlflow').level != logging.ERROR, 'logger level changed'\n"
        "from mlflow.utils import request_utils\n"
        "assert not hasattr(request_utils.Retry, 'capped_at'), 'MLflow retry class replaced'\n"
    )
    from controller.registry import FAST_FAIL_DEFAULTS, NOISY_LOGGERS

    # In-process CLI runs in other tests set these in pytest's own environment.
    env = {k: v for k, v in os.environ.items() if k not in FAST_FAIL_DEFAULTS}
    assert "mlflow" in NOISY_LOGGERS
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def path(tmp_path: Path) -> Path:
    repo: git.Repo = make_repo(tmp_path / "work")
    text = "version: 1\nmodels:\n  bikes:\n    aliases:\n      champion: {}\n"
    commit_file(repo, "registry.yaml", text.format(1), "declare")
    commit_file(repo, "registry.yaml", text.format(2), "promote to 2")
    return tmp_path / "work" / "registry.yaml"


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],
        ["promote", "bikes", "champion", "9", "--offline"],
        ["rollback", "bikes", "champion", "--to", "1", "--offline"],
        ["rollback", "bikes", "champion", "--offline", "--commit"],
        ["history"],
    ],
)
def test_offline_commands_never_import_mlflow(path: Path, args: list[str]) -> None:
    probe = (
        "import sys\n"
        "from controller.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "assert 'mlflow' not in sys.modules, 'mlflow was imported'\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *args, "-f", str(path)],
        cwd=path.parent,
        env={**os.environ, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
