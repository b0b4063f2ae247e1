"""Copies between registries and models, against two real `mlflow server`s: a version logged
on the source is copied once, verified, and served from the target."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from testing.auth import AuthServer
from testing.cli import invoke_cli
from testing.models import log_label_version
from testing.repos import commit_file, make_repo, work_tree
from testing.server import free_port

COPY_TAGS = ("registry", "model", "version", "sha256")
ROWS = pd.DataFrame({"x": [1.0, 2.5, -3.0]})


def manifest(path: Path, source_uri: str, name: str, aliases: str) -> Path:
    """registry.yaml naming the source `staging`, with one model's alias lines."""
    path.write_text(
        "version: 1\n"
        f"sources:\n  staging:\n    tracking_uri: {source_uri}\n"
        f"models:\n  {name}:\n    aliases:\n{aliases}",
        encoding="utf-8",
    )
    return path


def apply(path: Path, target: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = invoke_cli(
        "apply", "--auto-approve", "-f", str(path), "--tracking-uri", target, env=env
    )
    return result.code, result.out + result.err


def plan(
    path: Path, target: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, str]:
    result = invoke_cli("plan", "-f", str(path), "--tracking-uri", target, *extra, env=env)
    return result.code, result.out + result.err


def predictions(uri: str, model_uri: str) -> list[float]:
    """What the model at `model_uri` predicts, loaded from the registry at `uri`."""
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    with _use_tracking_uri(uri):  # the registry follows the tracking URI when none is set
        return [float(p) for p in mlflow.pyfunc.load_model(model_uri).predict(ROWS)]


@pytest.fixture
def copied(source_server: str, mlflow_server: str, tmp_path: Path) -> tuple[str, Path]:
    """A model logged as version 1 on the source and declared as a copy on the target by two
    aliases (applied in parallel: one copy), applied."""
    name = f"bikes{uuid.uuid4().hex[:8]}"
    MlflowClient(source_server, source_server).create_registered_model(name)
    assert log_label_version(source_server, name, 7.0) == "1"
    MlflowClient(mlflow_server, mlflow_server).create_registered_model(name)
    path = manifest(
        tmp_path / "registry.yaml",
        source_server,
        name,
        "      champion: {source: staging, version: 1}\n"
        "      challenger: {source: staging, version: 1}\n",
    )
    code, out = apply(path, mlflow_server)
    assert code == 0, out
    assert (
        f"+ {name}@champion: staging {name} v1 (copy) (assign) ... applied (the copy is v1)" in out
    )
    assert f"to staging {name} v1: " in out  # the evidence is the source version's
    return name, path


@pytest.mark.server
def test_a_copy_across_servers_loads_on_the_target_and_predicts_what_the_source_does(
    copied: tuple[str, Path], source_server: str, mlflow_server: str
) -> None:
    name, _ = copied
    target = MlflowClient(mlflow_server, mlflow_server)
    copy = target.get_model_version_by_alias(name, "champion")
    assert {key: copy.tags[f"mlflow-gitops.copy.{key}"] for key in COPY_TAGS[:3]} == {
        "registry": source_server,
        "model": name,
        "version": "1",
    }
    assert len(copy.tags["mlflow-gitops.copy.sha256"]) == 64
    assert str(copy.source).startswith("mlflow-artifacts:")  # in the target's own artifact store
    expected = predictions(source_server, f"models:/{name}/1")
    assert (
        predictions(mlflow_server, f"models:/{name}@champion")
        == expected
        == [7001.0, 7002.5, 6997.0]
    )


@pytest.mark.server
def test_a_second_apply_finds_the_verified_copy_and_copies_nothing(
    copied: tuple[str, Path], mlflow_server: str
) -> None:
    name, path = copied
    target = MlflowClient(mlflow_server, mlflow_server)
    assert target.get_registered_model(name).aliases == {"champion": "1", "challenger": "1"}
    code, out = apply(path, mlflow_server)
    assert code == 0, out
    assert "No changes" in out
    versions = target.search_model_versions(f"name = '{name}'")
    assert [v.version for v in versions] == ["1"]
    code, out = plan(path, mlflow_server, "--format", "json")
    assert code == 0, out
    declared = json.loads(out)["models"][name]["declared"]["champion"]
    assert declared["local"] == 1 and declared["source"] == "staging"


@pytest.mark.server
def test_a_copy_within_one_registry_copies_from_another_model(
    mlflow_server: str, tmp_path: Path
) -> None:
    staging = f"staging-bikes{uuid.uuid4().hex[:8]}"
    prod = f"prod-bikes{uuid.uuid4().hex[:8]}"
    client = MlflowClient(mlflow_server, mlflow_server)
    client.create_registered_model(staging)
    client.create_registered_model(prod)
    log_label_version(mlflow_server, staging, 1.0)
    log_label_version(mlflow_server, staging, 2.0)
    path = tmp_path / "registry.yaml"
    path.write_text(
        f"version: 1\nmodels:\n  {prod}:\n    aliases:\n"
        f"      champion: {{model: {staging}, version: 2}}\n",
        encoding="utf-8",
    )
    code, out = apply(path, mlflow_server)
    assert code == 0, out
    assert f"+ {prod}@champion: {staging} v2 (copy)" in out
    copy = client.get_model_version_by_alias(prod, "champion")
    assert copy.source == f"models:/{staging}/2"
    assert copy.tags["mlflow-gitops.copy.model"] == staging
    assert not any(
        key.startswith("mlflow-gitops.alias.")
        for key in client.get_model_version(staging, "2").tags
    )
    assert predictions(mlflow_server, f"models:/{prod}@champion") == [2001.0, 2002.5, 1997.0]
    code, out = apply(path, mlflow_server)
    assert code == 0 and "No changes" in out, out


@pytest.mark.server
def test_a_tampered_copy_is_refused_and_only_its_alias_stays(
    copied: tuple[str, Path], source_server: str, mlflow_server: str, mlflow_server_root: Path
) -> None:
    """Someone rewrites the copy's files in the target's store: no alias moves onto it, the
    alias on it is not counted as in place, and the other changes still apply."""
    name, path = copied
    target = MlflowClient(mlflow_server, mlflow_server)
    copy = target.get_model_version(name, "1")
    stored = mlflow_server_root / "artifacts" / str(copy.source).removeprefix("mlflow-artifacts:/")
    (stored / "python_model.pkl").write_bytes(b"not the model that was reviewed")
    log_label_version(mlflow_server, name, 9.0)  # a local version 2, for an unrelated alias
    manifest(
        path,
        source_server,
        name,
        "      champion: {source: staging, version: 1}\n"
        "      challenger: {source: staging, version: 1}\n"
        "      candidate: {source: staging, version: 1}\n"
        "      shadow: 2\n",
    )
    code, out = plan(path, mlflow_server)
    assert code == 0, out
    assert f"{name} v1 carries the lineage tags of staging {name} v1 but its files' digest" in out
    code, out = apply(path, mlflow_server)
    assert code == 1, out
    assert f"+ {name}@shadow: 2 (assign) ... applied" in out
    assert "refused" in out and "failed verification" not in out
    aliases = target.get_registered_model(name).aliases
    # candidate never pointed at it; the aliases already on it are not counted as in place
    assert aliases == {"champion": "1", "challenger": "1", "shadow": "2"}
    assert f"~ {name}@champion: 1 -> staging {name} v1 (copy) (promote) ... failed" in out
    assert len(target.search_model_versions(f"name = '{name}'")) == 2  # no second copy


@pytest.mark.server
def test_an_unreachable_source_fails_the_plan_naming_it_and_no_secret(
    mlflow_server: str, make_model, tmp_path: Path
) -> None:
    name = make_model("copyfail", versions=1)
    port = free_port()
    path = manifest(
        tmp_path / "registry.yaml",
        f"http://127.0.0.1:{port}",
        name,
        "      champion: {source: staging, version: 3}\n      challenger: 1\n",
    )
    secret = "s3cr3t-source-token"
    env = {"MLFLOW_GITOPS_SOURCE_STAGING_TRACKING_TOKEN": secret}
    code, out = plan(path, mlflow_server, env=env)
    assert code == 1, out
    assert f"source 'staging' (http://127.0.0.1:{port})" in out
    assert "registry.yaml:8:" in out  # the champion line
    assert f"+ {name}@challenger: 1" in out  # the rest is still planned
    assert secret not in out
    code, out = apply(path, mlflow_server, env=env)
    assert code == 1 and secret not in out
    assert MlflowClient(mlflow_server, mlflow_server).get_registered_model(name).aliases == {}


@pytest.mark.server
def test_a_source_behind_basic_auth_gets_its_own_credentials_and_the_target_none(
    auth_server: AuthServer, mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source's credentials come from MLFLOW_GITOPS_SOURCE_STAGING_*; the target (no auth)
    is reached without them, and MLflow's own variables are not set at all."""
    name = f"authcopy{uuid.uuid4().hex[:8]}"
    with monkeypatch.context() as admin:  # only to log the source version
        for key, value in auth_server.admin_env().items():
            admin.setenv(key, value)
        MlflowClient(auth_server.url, auth_server.url).create_registered_model(name)
        log_label_version(auth_server.url, name, 4.0)
    MlflowClient(mlflow_server, mlflow_server).create_registered_model(name)
    path = manifest(
        tmp_path / "registry.yaml",
        auth_server.url,
        name,
        "      champion: {source: staging, version: 1}\n",
    )
    code, out = plan(path, mlflow_server)
    assert code == 1 and "source 'staging'" in out, out  # no credentials: refused by the source
    env = {
        "MLFLOW_GITOPS_SOURCE_STAGING_TRACKING_USERNAME": "admin",
        "MLFLOW_GITOPS_SOURCE_STAGING_TRACKING_PASSWORD": auth_server.admin_password,
    }
    code, out = apply(path, mlflow_server, env=env)
    assert code == 0, out
    assert auth_server.admin_password not in out
    assert predictions(mlflow_server, f"models:/{name}@champion") == [4001.0, 4002.5, 3997.0]


@pytest.mark.server
def test_promote_from_writes_the_copy_the_source_alias_holds_and_history_names_it(
    source_server: str, tmp_path: Path
) -> None:
    name = f"promo{uuid.uuid4().hex[:8]}"
    source = MlflowClient(source_server, source_server)
    source.create_registered_model(name)
    log_label_version(source_server, name, 1.0)
    log_label_version(source_server, name, 2.0)
    source.set_registered_model_alias(name, "champion", "2")
    repo = make_repo(tmp_path / "repo")
    text = (
        f"version: 1\nsources:\n  staging:\n    tracking_uri: {source_server}\n"
        f"models:\n  {name}:\n    aliases:\n      champion: 1  # production's\n"
    )
    commit_file(repo, "registry.yaml", text, "declare")
    path = work_tree(repo) / "registry.yaml"

    result = invoke_cli("promote", name, "champion", "--from", "staging@shadow", "-f", str(path))
    assert result.code == 1
    assert f"source 'staging' ({source_server}) has no {name}@shadow" in result.err
    assert path.read_text() == text

    result = invoke_cli(
        "promote", name, "champion", "--from", "staging", "-f", str(path), "--commit"
    )
    assert result.code == 0, result.err
    assert path.read_text() == text.replace(
        "champion: 1  #", "champion: {source: staging, version: 2}  #"
    )
    assert f"{name}@champion 1 -> staging {name} v2 (copy)" in result.out
    result = invoke_cli("history", name, "champion", "-f", str(path), "--format", "json")
    newest = json.loads(result.out)[0]
    assert (newest["from"], newest["to"], newest["to_copy"], newest["kind"]) == (
        1,
        None,
        f"staging {name} v2",
        "promote",
    )
    assert newest["subject"] == f"promote {name}@champion: 1 -> staging {name} v2 (copy)"


@pytest.mark.server
def test_promotes_from_a_source_alias_is_checked_in_the_source_registry(
    source_server: str, mlflow_server: str, tmp_path: Path
) -> None:
    name = f"gated{uuid.uuid4().hex[:8]}"
    source = MlflowClient(source_server, source_server)
    source.create_registered_model(name)
    log_label_version(source_server, name, 3.0)
    source.set_registered_model_alias(name, "challenger", "1")
    MlflowClient(mlflow_server, mlflow_server).create_registered_model(name)
    path = manifest(
        tmp_path / "registry.yaml",
        source_server,
        name,
        "      champion: {source: staging, version: 1}\n"
        "    gates:\n      champion:\n"
        "        promotes_from: {source: staging, alias: champion}\n",
    )
    code, out = plan(path, mlflow_server)
    assert code == 1, out
    assert f"staging {name} v1 does not hold champion in staging (it holds challenger)" in out
    source.set_registered_model_alias(name, "champion", "1")
    code, out = apply(path, mlflow_server)
    assert code == 0, out
    assert MlflowClient(mlflow_server, mlflow_server).get_registered_model(name).aliases == {
        "champion": "1"
    }
