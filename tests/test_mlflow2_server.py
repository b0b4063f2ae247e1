"""The server-backed core against a real MLflow 2.22 server, from its own environment.

2.x servers reject `name IN (...)` in searches with HTTP 400 ("Only the 'run_id' attribute
supports comparison with a list of quoted string values"), have no logged models, and predate
prompts. The client is this project's 3.x; the connection learns the server's searches from its
first 400 and reads model by model from then on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow import MlflowClient

from controller.cli import main
from controller.registry import Registry, reads
from controller.target import RegistryTarget
from testing.repos import commit_file, make_repo, work_tree

pytestmark = pytest.mark.server

SEARCH_MODELS = "/api/2.0/mlflow/registered-models/search"
SEARCH_VERSIONS = "/api/2.0/mlflow/model-versions/search"


@pytest.fixture
def client2(mlflow2_server: str) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow2_server, registry_uri=mlflow2_server)


@pytest.fixture
def make_model2(client2: MlflowClient) -> Callable[..., str]:
    """Factory: a new model on the 2.x server with `versions` READY versions (nothing uploaded)."""

    def make(prefix: str = "m2", versions: int = 3) -> str:
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        client2.create_registered_model(name)
        for i in range(1, versions + 1):
            client2.create_model_version(name, source=f"s3://fixtures/{name}/{i}")
        return name

    return make


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return dict(client.get_registered_model(name).aliases)


def run(*args: str) -> int:
    return main(list(args))


def test_the_server_is_mlflow_2(mlflow2_server: str) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{mlflow2_server}/version", timeout=5) as reply:
        assert reply.read().decode().startswith("2.22.")


def test_import_plan_apply_and_promote_against_a_2x_server(
    tmp_path: Path,
    mlflow2_server: str,
    client2: MlflowClient,
    make_model2: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    bikes, rides = make_model2("bikes"), make_model2("rides", versions=2)
    client2.set_registered_model_alias(bikes, "champion", "1")
    client2.set_registered_model_alias(rides, "champion", "2")
    repo = make_repo(tmp_path / "adopter")
    manifest = work_tree(repo) / "registry.yaml"
    uri = ("--tracking-uri", mlflow2_server)

    assert run("import", bikes, rides, "-o", str(manifest), "--name", "adopter", *uri) == 0
    imported = manifest.read_text()
    assert f"  {bikes}:\n    aliases:\n      champion: 1\n" in imported
    assert f"  {rides}:\n    aliases:\n      champion: 2\n" in imported
    commit_file(repo, "registry.yaml", imported, "adopt the registry")
    capsys.readouterr()

    assert run("plan", "-f", str(manifest), "--detailed-exitcode", *uri) == 2  # adoptions only
    adopting = capsys.readouterr().out
    assert f"* {bikes}: first adoption" in adopting and f"* {rides}: first adoption" in adopting
    assert "Plan: 0 to create, 0 to update, 0 to delete, 2 to adopt." in adopting

    assert run("promote", bikes, "champion", "latest", "-f", str(manifest), *uri) == 0
    assert run("promote", bikes, "challenger", "2", "-f", str(manifest), *uri) == 0
    capsys.readouterr()
    assert run("plan", "-f", str(manifest), "--detailed-exitcode", *uri) == 2
    planned = capsys.readouterr().out
    assert f"~ {bikes}@champion: 1 -> 3 (promote)" in planned
    assert f"+ {bikes}@challenger: 2 (assign)" in planned

    commit_file(repo, "registry.yaml", manifest.read_text(), "promote bikes")
    assert run("apply", "-f", str(manifest), "--auto-approve", *uri) == 0
    assert "Apply: 2 applied, 0 failed, 0 skipped; 2 models changed hands." in (
        capsys.readouterr().out
    )
    assert aliases(client2, bikes) == {"champion": "3", "challenger": "2"}
    assert aliases(client2, rides) == {"champion": "2"}

    assert run("plan", "-f", str(manifest), "--detailed-exitcode", *uri) == 0


def test_promote_to_a_version_the_2x_server_lacks_is_refused_and_nothing_moves(
    tmp_path: Path,
    mlflow2_server: str,
    client2: MlflowClient,
    make_model2: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = make_model2("bikes", versions=2)
    client2.set_registered_model_alias(name, "champion", "1")
    repo = make_repo(tmp_path / "adopter")
    text = f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 1\n"
    commit_file(repo, "registry.yaml", text, "adopt")
    manifest = work_tree(repo) / "registry.yaml"

    assert (
        run("promote", name, "champion", "7", "-f", str(manifest), "--tracking-uri", mlflow2_server)
        == 1
    )
    err = capsys.readouterr().err
    assert "7" in err and name in err
    assert manifest.read_text() == text
    assert aliases(client2, name) == {"champion": "1"}


def test_import_all_reads_every_model_of_a_2x_server(
    mlflow2_server: str, make_model2: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    names = [make_model2("every", versions=1) for _ in range(2)]
    assert run("import", "--all", "--name", "adopter", "--tracking-uri", mlflow2_server) == 0
    written = capsys.readouterr().out
    assert all(f"  {name}:" in written for name in names)


def test_a_2x_server_costs_one_rejected_search_then_one_search_per_model(
    mlflow2_server: str,
    client2: MlflowClient,
    make_model2: Callable[..., str],
    rest_calls: list[tuple[str, str]],
) -> None:
    names = [make_model2("cost", versions=2) for _ in range(3)]
    client2.set_registered_model_alias(names[0], "champion", "2")
    registry = Registry(RegistryTarget(mlflow2_server, mlflow2_server))
    rest_calls.clear()

    state = registry.read_state(names)

    assert registry.takes_name_lists is False
    assert state.models[names[0]].aliases == {"champion": 2}
    assert {n: m.versions for n, m in state.models.items()} == {
        n: {1: "READY", 2: "READY"} for n in names
    }
    # The rejected `name IN` search, then one search per model for models and for versions.
    assert sorted(endpoint for _, endpoint in rest_calls) == [
        *[SEARCH_VERSIONS] * 3,
        *[SEARCH_MODELS] * 4,
    ], rest_calls

    rest_calls.clear()
    registry.read_state(names)
    assert sorted(endpoint for _, endpoint in rest_calls) == [
        *[SEARCH_VERSIONS] * 3,
        *[SEARCH_MODELS] * 3,
    ], "learned once per connection"


def test_many_models_on_a_2x_server_are_read_by_paging_everything(
    mlflow2_server: str,
    client2: MlflowClient,
    make_model2: Callable[..., str],
    rest_calls: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reads, "SINGLE_NAME_SEARCHES_MAX", 2)
    names = [make_model2("many", versions=2) for _ in range(3)]
    client2.set_registered_model_alias(names[0], "champion", "1")  # else aliases are probed
    registry = Registry(RegistryTarget(mlflow2_server, mlflow2_server))
    rest_calls.clear()

    state = registry.read_state(names)

    assert sorted(state.models) == sorted(names)
    assert all(m.versions == {1: "READY", 2: "READY"} for m in state.models.values())
    # The rejected search, then one page of every model and one of every version.
    assert sorted(endpoint for _, endpoint in rest_calls) == [
        SEARCH_VERSIONS,
        *[SEARCH_MODELS] * 2,
    ], rest_calls


def test_a_3x_server_takes_name_lists(mlflow_server: str, make_model: Callable[..., str]) -> None:
    registry = Registry(RegistryTarget(mlflow_server, mlflow_server))
    registry.read_state([make_model("lists", versions=1)])
    assert registry.takes_name_lists is True


def test_a_version_of_a_logged_model_has_no_metrics_on_a_2x_server(
    tmp_path: Path,
    mlflow2_server: str,
    mlflow2_server_root: Path,
    client2: MlflowClient,
    make_model2: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """2.x servers have no logged models (their endpoints answer 404): the evidence of a
    version whose source is one shows no metrics, and the plan does not fail.

    A 2.x server refuses to register such a source, so the row is rewritten in its store, as a
    registry written by a newer client and served by a 2.x server holds it."""
    import sqlalchemy

    name = make_model2("logged", versions=2)
    client2.set_registered_model_alias(name, "champion", "1")
    engine = sqlalchemy.create_engine(f"sqlite:///{mlflow2_server_root / 'mlflow.db'}")
    with engine.begin() as db:
        db.execute(
            sqlalchemy.text(
                "UPDATE model_versions SET source = 'models:/m-0123456789abcdef', run_id = NULL"
                " WHERE name = :name AND version = 2"
            ),
            {"name": name},
        )
    repo = make_repo(tmp_path / "adopter")
    text = f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 2\n"
    commit_file(repo, "registry.yaml", text, "promote")
    manifest = work_tree(repo) / "registry.yaml"

    assert run("plan", "-f", str(manifest), "--tracking-uri", mlflow2_server) == 0
    planned = capsys.readouterr().out
    assert f"~ {name}@champion: 1 -> 2 (promote)" in planned
    to_v2 = next(line.strip() for line in planned.splitlines() if line.strip().startswith("to v2"))
    assert to_v2.endswith("READY, no run, signature unreadable; no metrics; tags none"), planned
    assert aliases(client2, name) == {"champion": "1"}


def test_apply_of_a_version_the_2x_server_lacks_writes_nothing(
    tmp_path: Path,
    mlflow2_server: str,
    client2: MlflowClient,
    make_model2: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = make_model2("bikes", versions=2)
    client2.set_registered_model_alias(name, "champion", "1")
    repo = make_repo(tmp_path / "adopter")
    text = f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 9\n      shadow: 2\n"
    commit_file(repo, "registry.yaml", text, "declare a version that does not exist")
    manifest = work_tree(repo) / "registry.yaml"

    code = run("apply", "-f", str(manifest), "--auto-approve", "--tracking-uri", mlflow2_server)

    assert code == 1
    out = capsys.readouterr().out
    assert f"version 9 of model '{name}' does not exist" in out
    assert "The plan has 1 error; nothing will be applied." in out
    assert aliases(client2, name) == {"champion": "1"}
    assert "mlflow-gitops.last-applied" not in client2.get_registered_model(name).tags
