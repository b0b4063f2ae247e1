"""`import` as a new user adopting the tool meets it: no silent empty manifest, no clobbering."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow import MlflowClient

from testing.cli import run_cli
from testing.repos import make_repo

pytestmark = pytest.mark.server


def test_a_registry_without_models_is_an_error_with_a_hint(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    MlflowClient(f"sqlite:///{empty}").search_registered_models()  # creates an empty store
    uri = f"sqlite:///{empty}"
    result = run_cli("import", "--all", "--name", "t", "--tracking-uri", uri, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no registered models found in sqlite:///")
    assert "--tracking-uri" in last and "MLFLOW_TRACKING_URI" in last


def test_output_onto_an_existing_manifest_is_refused_without_force(
    tmp_path: Path, mlflow_server: str, make_model: Callable[..., str]
) -> None:
    name = make_model("adopt")
    existing = "# ours, with comments\nversion: 1\nmodels: {}\n"
    (tmp_path / "registry.yaml").write_text(existing)
    args = ("import", name, "-o", "registry.yaml", "--name", "t", "--tracking-uri", mlflow_server)
    refused = run_cli(*args, cwd=tmp_path)
    assert refused.returncode == 1
    assert "registry.yaml already exists" in refused.stderr and "--force" in refused.stderr
    assert (tmp_path / "registry.yaml").read_text() == existing
    forced = run_cli(*args, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced
    assert f"  {name}:" in (tmp_path / "registry.yaml").read_text()


def test_the_written_manifest_validates_in_an_adopting_repository(
    tmp_path: Path,
    mlflow_server: str,
    make_model: Callable[..., str],
    server_client: MlflowClient,
) -> None:
    name = make_model("adopt")
    server_client.set_registered_model_alias(name, "champion", "2")
    make_repo(tmp_path / "adopter")
    result = run_cli(
        "import", name, "-o", "registry.yaml", "--name", "adopter", "--tracking-uri",
        mlflow_server, cwd=tmp_path / "adopter",
    )  # fmt: skip
    assert result.returncode == 0, result
    assert result.stderr.splitlines()[0] == f"Registry: {mlflow_server} (from --tracking-uri)"
    text = (tmp_path / "adopter" / "registry.yaml").read_text()
    for line in text.splitlines():
        if "$schema=" in line:  # a schema reference must resolve from where the file is
            target = line.split("$schema=", 1)[1].strip()
            assert (tmp_path / "adopter" / target).is_file(), line
    assert run_cli("validate", cwd=tmp_path / "adopter").returncode == 0
    plan = run_cli(
        "plan", "--detailed-exitcode", "--tracking-uri", mlflow_server, cwd=tmp_path / "adopter"
    )
    assert plan.returncode == 2, plan  # its first adoption, and nothing else
    assert f"* {name}: first adoption" in plan.stdout and "->" not in plan.stdout
