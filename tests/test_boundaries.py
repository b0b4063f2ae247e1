"""The architecture's boundaries: what each layer may import, checked on the real modules.

An allow-list: every module of controller/ is in one layer, and each layer names the layers
and outside packages it may import, so a new module or import has to be placed on purpose.
ruff's banned-api rule says the same for mlflow and git at edit time. Offline commands never
pay for mlflow, and importing the library changes no process settings.
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
# Every module, by what it does. A name ending in "/" is a whole package.
LAYERS = {
    # The functional core: values in, values out. The manifest reads the one file it is given.
    "core": [
        "__init__.py", "values.py", "policy.py", "schedule.py", "state.py", "plan.py",
        "review.py", "gates.py", "evidence.py", "trust.py", "tracking.py", "ownership.py",
        "commit_message.py", "history.py", "edit.py", "errors.py", "uris.py", "manifest/",
        "suggest.py",
        "daemon/__init__.py", "daemon/status.py", "daemon/heals.py", "webhooks.py",
    ],
    # Formatting: pure too, values in, text out.
    "render": ["render/"],
    # The process's streams, the Actions environment's files and notification receivers, redacted.
    "output": ["output.py", "console.py", "github_actions.py", "notify.py"],
    # I/O: the registry, git, the environment, the clock, the model server.
    "shell": [
        "registry/", "gitops.py", "apply.py", "saved_plan.py", "records.py", "promotion.py",
        "update.py", "adopt.py", "provenance.py", "target.py", "clock.py", "serving.py",
    ],
    # The library surface and the command line over it.
    "surface": ["api.py", "cli.py", "__main__.py"],
    # The controller: a loop over the library surface, its endpoints, metrics and logs.
    "daemon": [
        "daemon/loop.py", "daemon/http.py", "daemon/metrics.py", "daemon/logs.py",
        "daemon/service.py",
    ],
}  # fmt: skip
MAY_IMPORT = {
    "core": {"core"},
    "render": {"core", "render"},
    "output": {"core", "render", "output"},
    "shell": {"core", "output", "shell"},
    "surface": {"core", "render", "output", "shell", "surface", "daemon"},
    # Through controller.api only (checked below): never the registry or git directly.
    "daemon": {"core", "render", "output", "surface", "daemon"},
}
# Third-party packages, by layer; the standard library is free everywhere.
THIRD_PARTY = {
    "core": {"pydantic", "yaml"},
    "render": {"pydantic"},
    "output": set(),
    "shell": {"pydantic", "pydantic_core", "mlflow", "git", "starlette", "uvicorn"},
    "surface": {"click"},
    "daemon": {"pydantic", "prometheus_client"},
}
# ...and some only in the one place that owns them.
ONLY_IN = {
    "mlflow": ("registry/", "serving.py"),
    "starlette": ("serving.py",),
    "uvicorn": ("serving.py",),
    "git": ("gitops.py",),
    "click": ("cli.py",),
    "prometheus_client": ("daemon/metrics.py",),
    "yaml": ("manifest/", "edit.py", "evidence.py"),
}


def module_name(path: Path) -> str:
    parts = ["controller", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(path: Path) -> str | None:
    relative = path.relative_to(PACKAGE).as_posix()
    found = [
        layer
        for layer, names in LAYERS.items()
        for name in names
        if relative == name or (name.endswith("/") and relative.startswith(name))
    ]
    return found[0] if len(found) == 1 else None


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it (also inside functions and TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert not node.level, f"{path}: relative import"
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return found


def ids(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


@pytest.mark.parametrize("path", MODULES.values(), ids=ids)
def test_every_module_is_in_exactly_one_layer(path: Path) -> None:
    assert layer_of(path), f"{ids(path)}: add it to one layer in LAYERS"


@pytest.mark.parametrize("path", MODULES.values(), ids=ids)
def test_modules_import_only_the_layers_theirs_may(path: Path) -> None:
    layer = layer_of(path)
    assert layer
    reached = {
        f"{name} ({layer_of(MODULES[name])})"
        for name in imported_modules(path)
        if name in MODULES and layer_of(MODULES[name]) not in MAY_IMPORT[layer]
    }
    assert not reached, f"{layer} module {ids(path)} imports {reached}"


@pytest.mark.parametrize("path", MODULES.values(), ids=ids)
def test_modules_import_only_the_outside_packages_theirs_may(path: Path) -> None:
    layer = layer_of(path)
    assert layer
    outside = {
        name.split(".")[0]
        for name in imported_modules(path)
        if name.split(".")[0] not in {"controller", "__future__", *sys.stdlib_module_names}
    }
    assert outside <= THIRD_PARTY[layer], f"{layer} module {ids(path)} imports {outside}"
    for package in outside & ONLY_IN.keys():
        assert ids(path).startswith(ONLY_IN[package]), f"only {ONLY_IN[package]} import {package}"


@pytest.mark.parametrize("path", [p for p in MODULES.values() if layer_of(p) == "daemon"], ids=ids)
def test_the_controller_reaches_the_library_only_through_its_api(path: Path) -> None:
    surface = {name for name in imported_modules(path) if name in MODULES}
    surface = {name for name in surface if layer_of(MODULES[name]) == "surface"}
    assert surface <= {"controller.api"}, f"{ids(path)} imports {surface}"


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
