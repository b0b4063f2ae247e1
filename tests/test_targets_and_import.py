"""Which registry a command talks to, `import` for adopting a registry, and the search fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.cli import main
from controller.errors import TargetConflict
from controller.output import redact
from controller.registry import Registry
from controller.target import DEFAULT_TRACKING_URI, RegistryTarget, TargetFlags, resolve_target


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_flag_beats_environment_beats_manifest_beats_default(clean_env) -> None:
    assert resolve_target(TargetFlags(), None) == RegistryTarget(
        DEFAULT_TRACKING_URI, DEFAULT_TRACKING_URI, "default"
    )
    assert resolve_target(TargetFlags(), "http://m").tracking_uri == "http://m"
    clean_env.setenv("MLFLOW_TRACKING_URI", "http://env")
    assert resolve_target(TargetFlags(), None).tracking_uri == "http://env"
    with pytest.raises(TargetConflict):  # the manifest names another: only a flag decides
        resolve_target(TargetFlags(), "http://m")
    assert (
        resolve_target(TargetFlags("http://flag", None), "http://m").tracking_uri == "http://flag"
    )


def test_registry_uri_defaults_to_the_tracking_uri(clean_env) -> None:
    assert resolve_target(TargetFlags("http://t", None), None).registry_uri == "http://t"
    clean_env.setenv("MLFLOW_REGISTRY_URI", "http://reg-env")
    assert resolve_target(TargetFlags("http://t", None), None).registry_uri == "http://reg-env"
    assert (
        resolve_target(TargetFlags("http://t", "http://reg-flag"), None).registry_uri
        == "http://reg-flag"
    )


def test_redact_blanks_userinfo_and_secret_variables(clean_env) -> None:
    clean_env.setenv("MLFLOW_TRACKING_TOKEN", "s3cr3t-token")
    text = "at https://bob:pw@host:5000/x and postgresql://u:p@db/m with s3cr3t-token"
    assert redact(text) == "at https://***@host:5000/x and postgresql://***@db/m with ***"


def test_redact_blanks_echoed_authorization_headers() -> None:
    assert redact("denied for Basic YWRtaW46cHc9PQ== on /x") == "denied for Basic *** on /x"
    assert redact("got Bearer eyJhbGciOi.x.y") == "got Bearer ***"
    # Any length (issue 10): a short credential is still one, so prose after the word is blanked.
    assert redact("a Bearer token expired") == "a Bearer *** expired"
    assert redact("no Bearer.") == "no Bearer."


@pytest.mark.server
def test_embedded_sqlite_registry_is_the_default(tmp_path: Path, clean_env, capsys) -> None:
    from mlflow import MlflowClient

    clean_env.chdir(tmp_path)
    client = MlflowClient("sqlite:///mlflow.db")
    client.create_registered_model("bikes")
    client.create_model_version("bikes", "s3://fixtures/bikes/1")
    (tmp_path / "registry.yaml").write_text(
        "version: 1\nmodels:\n  bikes:\n    aliases:\n      champion: 1\n"
    )
    assert main(["apply", "--auto-approve"]) == 0
    assert client.get_registered_model("bikes").aliases == {"champion": 1}  # ints from SQL
    assert main(["plan", "--detailed-exitcode"]) == 0


@pytest.mark.server
def test_import_writes_a_manifest_that_plans_only_its_adoption(
    make_model, server_client, mlflow_server, tmp_path, capsys
) -> None:
    name = make_model("adopt")
    server_client.set_registered_model_alias(name, "champion", "2")
    server_client.set_registered_model_alias(name, "canary", "3")
    out = tmp_path / "registry.yaml"
    uri = ("--tracking-uri", mlflow_server)
    assert main(["import", name, "-o", str(out), "--name", f"team/{name}", *uri]) == 0
    assert out.read_text() == (
        f"version: 1\nname: team/{name}\nmodels:\n  {name}:\n    aliases:\n"
        "      canary: 3\n      champion: 2\n"
    )
    capsys.readouterr()
    assert main(["plan", "-f", str(out), "--detailed-exitcode", *uri]) == 2
    planned = capsys.readouterr().out
    assert f"* {name}: first adoption" in planned and "->" not in planned
    assert main(["apply", "-f", str(out), "--auto-approve", *uri]) == 0
    assert server_client.get_registered_model(name).aliases == {"champion": "2", "canary": "3"}
    assert main(["plan", "-f", str(out), "--detailed-exitcode", *uri]) == 0


@pytest.mark.server
def test_import_all_includes_every_model_and_unknown_names_fail(
    make_model, mlflow_server, capsys
) -> None:
    name = make_model("all")
    assert main(["import", "--all", "--name", "t", "--tracking-uri", mlflow_server]) == 0
    assert f"  {name}:\n" in capsys.readouterr().out
    assert (
        main(["import", "no-such-model-xyz", "--name", "t", "--tracking-uri", mlflow_server]) == 1
    )
    assert "no such registered model: no-such-model-xyz" in capsys.readouterr().err


@pytest.mark.server
def test_search_without_aliases_falls_back_to_per_model_reads(
    make_model, server_client, mlflow_server
) -> None:
    """Simulates a registry that drops aliases from search results (MLflow issue 16734)."""
    names = [make_model("fallback", versions=1) for _ in range(3)]
    for name in names:
        server_client.set_registered_model_alias(name, "champion", "1")

    class AliaslessSearch(Registry):
        def _search_models(self, wanted):
            found = super()._search_models(wanted)
            return {n: type(m)(name=m.name, last_applied=m.last_applied) for n, m in found.items()}

    state = AliaslessSearch(RegistryTarget(mlflow_server, mlflow_server)).read_state(names)
    assert {n: m.aliases for n, m in state.models.items()} == {n: {"champion": 1} for n in names}


@pytest.mark.server
def test_models_without_aliases_cost_one_probe_and_no_fallback(
    make_model, mlflow_server, rest_calls
) -> None:
    names = [make_model("bare", versions=1) for _ in range(3)]
    rest_calls.clear()
    state = Registry(RegistryTarget(mlflow_server, mlflow_server)).read_state(names)
    assert all(m.aliases == {} for m in state.models.values())
    endpoints = sorted(endpoint.split("/2.0/mlflow/", 1)[1] for _, endpoint in rest_calls)
    assert endpoints == [
        "model-versions/search",
        "registered-models/get",
        "registered-models/search",
    ]
