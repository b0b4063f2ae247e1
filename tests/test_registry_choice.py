"""Every command names the registry it talks to and why; read-only commands create nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow import MlflowClient

from testing.cli import run_cli


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def write_manifest(
    folder: Path, name: str, tracking_uri: str | None = None, version: int = 1
) -> Path:
    uri = f"tracking_uri: {tracking_uri}\n" if tracking_uri else ""
    path = folder / "registry.yaml"
    path.write_text(
        f"version: 1\n{uri}models:\n  {name}:\n    aliases:\n      champion: {version}\n"
    )
    return path


@pytest.fixture
def model(make_model: Callable[..., str]) -> str:
    return make_model("choice", versions=2)


@pytest.mark.server
def test_plan_names_the_registry_and_the_flag_on_its_first_line(
    tmp_path: Path, mlflow_server: str, model: str
) -> None:
    write_manifest(tmp_path, model)
    result = run_cli("plan", "--tracking-uri", mlflow_server, cwd=tmp_path)
    assert result.returncode == 0, result
    assert result.stdout.splitlines()[0] == f"Registry: {mlflow_server} (from --tracking-uri)"


@pytest.mark.server
def test_json_plan_carries_a_registry_object_naming_the_environment(
    tmp_path: Path, mlflow_server: str, model: str
) -> None:
    write_manifest(tmp_path, model)
    env = {"MLFLOW_TRACKING_URI": mlflow_server}
    result = run_cli("plan", "--format", "json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result
    assert json.loads(result.stdout)["registry"] == {
        "uri": mlflow_server,
        "source": "MLFLOW_TRACKING_URI",
    }


@pytest.mark.server
def test_markdown_plan_header_names_the_manifest_as_the_source(
    tmp_path: Path, mlflow_server: str, model: str
) -> None:
    write_manifest(tmp_path, model, tracking_uri=mlflow_server)
    result = run_cli("plan", "--format", "markdown", cwd=tmp_path)
    assert result.returncode == 0, result
    header = result.stdout.split("\n\n")[0]
    assert f"`{mlflow_server}`" in header
    assert "from `tracking_uri` in registry.yaml" in header


@pytest.mark.server
def test_credentials_in_the_uri_are_redacted_where_the_registry_is_named(
    tmp_path: Path, mlflow_server: str, model: str
) -> None:
    write_manifest(tmp_path, model)
    host = mlflow_server.removeprefix("http://")
    result = run_cli("plan", "--tracking-uri", f"http://ann:s3cret-pw@{host}", cwd=tmp_path)
    assert result.stdout.splitlines()[0] == f"Registry: http://***@{host} (from --tracking-uri)"
    assert "s3cret-pw" not in result.stdout + result.stderr


@pytest.mark.server
def test_manifest_and_environment_naming_different_registries_is_refused(
    tmp_path: Path, mlflow_server: str, model: str
) -> None:
    write_manifest(tmp_path, model, tracking_uri=mlflow_server)
    elsewhere = f"sqlite:///{tmp_path / 'dev.db'}"
    result = run_cli("plan", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": elsewhere})
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert mlflow_server in line and elsewhere in line and "--tracking-uri" in line
    assert files_under(tmp_path) == {"registry.yaml"}


@pytest.mark.server
def test_an_explicit_flag_settles_a_conflict(
    tmp_path: Path, mlflow_server: str, model: str, server_client: MlflowClient
) -> None:
    write_manifest(tmp_path, model, tracking_uri="http://127.0.0.1:9")
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'dev.db'}"}
    result = run_cli(
        "apply", "--auto-approve", "--tracking-uri", mlflow_server, cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result
    assert server_client.get_registered_model(model).aliases == {"champion": "1"}


@pytest.mark.server
def test_same_registry_in_manifest_and_environment_is_no_conflict(
    tmp_path: Path, mlflow_server: str, model: str
) -> None:
    write_manifest(tmp_path, model, tracking_uri=mlflow_server)
    result = run_cli("plan", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": mlflow_server + "/"})
    assert result.returncode == 0, result
    assert result.stdout.splitlines()[0].endswith("(from MLFLOW_TRACKING_URI)")


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "--tracking-uri", "sqlite:///missing/x.db"],
        ["plan", "--format", "json", "--tracking-uri", "sqlite:///missing/x.db"],
        ["import", "--all", "--tracking-uri", "sqlite:///missing/x.db"],
        ["import", "bikes", "-o", "out.yaml", "--tracking-uri", "sqlite:///missing/x.db"],
        ["apply", "--auto-approve", "--tracking-uri", "sqlite:///missing/x.db"],
    ],
)
def test_a_sqlite_registry_that_does_not_exist_is_refused_and_never_created(
    tmp_path: Path, args: list[str]
) -> None:
    write_manifest(tmp_path, "bikes")
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: no registry at sqlite:///missing/x.db")
    )
    assert "Traceback" not in result.stderr
    assert files_under(tmp_path) == {"registry.yaml"}


def test_with_no_registry_named_plan_says_so_and_creates_no_database(tmp_path: Path) -> None:
    write_manifest(tmp_path, "bikes")
    result = run_cli("plan", cwd=tmp_path)
    assert result.returncode == 1
    assert "embedded default sqlite:///mlflow.db" in result.stderr
    assert "error: no registry at sqlite:///mlflow.db" in result.stderr
    assert files_under(tmp_path) == {"registry.yaml"}


def test_history_and_validate_never_touch_a_registry(tmp_path: Path) -> None:
    write_manifest(tmp_path, "bikes", tracking_uri="sqlite:///missing/x.db")
    assert run_cli("validate", cwd=tmp_path).returncode == 0
    run_cli("history", cwd=tmp_path)  # not a repository: fails, but must create nothing
    assert files_under(tmp_path) == {"registry.yaml"}


@pytest.mark.server
def test_apply_creates_the_embedded_database_only_as_the_default(tmp_path: Path) -> None:
    (tmp_path / "registry.yaml").write_text("version: 1\nmodels: {}\n")
    result = run_cli("apply", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 0, result
    assert "embedded default sqlite:///mlflow.db" in result.stderr
    assert result.stdout.splitlines()[0] == "Registry: sqlite:///mlflow.db (embedded default)"
    assert (tmp_path / "mlflow.db").is_file()


@pytest.mark.server
def test_promote_names_the_registry_that_confirmed_the_version(
    tmp_path: Path, mlflow_server: str, model: str
) -> None:
    write_manifest(tmp_path, model)
    result = run_cli(
        "promote", model, "champion", "2", "--tracking-uri", mlflow_server, cwd=tmp_path
    )
    assert result.returncode == 0, result
    assert result.stderr.splitlines()[0] == f"Registry: {mlflow_server} (from --tracking-uri)"
    assert "champion: 2" in (tmp_path / "registry.yaml").read_text()


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("htp://mlflow.internal:5000", "unknown registry URI scheme 'htp'"),
        ("databricks-uc", "Databricks registries"),
        ("databricks", "Databricks registries"),
        ("databricks://profile", "Databricks registries"),
        ("databricks-uc://profile", "Databricks registries"),
    ],
)
@pytest.mark.parametrize("command", [["plan"], ["import", "choice"]])
def test_a_registry_uri_the_tool_cannot_talk_to_is_one_line_naming_it(
    tmp_path: Path, uri: str, says: str, command: list[str]
) -> None:
    write_manifest(tmp_path, "choice")
    result = run_cli(*command, "--tracking-uri", uri, cwd=tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and says in errors[0] and uri in errors[0], result.stderr
    assert "Traceback" not in result.stderr and "HTTP 400" not in result.stderr
    assert files_under(tmp_path) == {"registry.yaml"}
