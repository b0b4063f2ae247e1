"""plan and apply end to end, through the CLI, against a real `mlflow server`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.state import AUDIT_TAG_PREFIX, LAST_APPLIED_TAG
from testing.cli import CliResult, invoke_cli

pytestmark = pytest.mark.server

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(mlflow_server: str) -> Run:
    """Run the CLI in-process against the session server; return (exit code, stdout, stderr)."""

    def _run(*args: str, env: dict[str, str] | None = None) -> CliResult:
        return invoke_cli(*args, "--tracking-uri", mlflow_server, env=env)

    return _run


@pytest.fixture
def write_manifest(tmp_path: Path) -> Callable[[str], str]:
    def _write(models_yaml: str) -> str:
        path = tmp_path / "registry.yaml"
        path.write_text(f"version: 1\nmodels:\n{models_yaml}", encoding="utf-8")
        return str(path)

    return _write


@pytest.fixture
def commit_manifest(tmp_path: Path) -> Callable[[str], str]:
    """Like write_manifest, but each version is a commit: a removed alias is deleted only on
    the word of a last-applied record that a commit on HEAD's history confirms."""
    from testing.repos import commit_file, make_repo

    repo = make_repo(tmp_path / "repo")

    def _commit(models_yaml: str) -> str:
        commit_file(repo, "registry.yaml", f"version: 1\nmodels:\n{models_yaml}", "manifest")
        return str(tmp_path / "repo" / "registry.yaml")

    return _commit


def aliases(client, name: str) -> dict[str, int]:
    return {a: int(v) for a, v in client.get_registered_model(name).aliases.items()}


def plan_json(run: Run, path: str) -> dict:
    code, out, err = run("plan", "-f", path, "--format", "json")
    assert code in (0, 1), err
    return json.loads(out)


def test_apply_creates_aliases_and_a_second_apply_writes_nothing(
    run: Run, write_manifest, make_model, server_client, rest_calls
) -> None:
    name = make_model("bikes")
    path = write_manifest(f"  {name}:\n    aliases:\n      champion: 2\n      challenger: 3\n")

    code, out, _ = run("apply", "--auto-approve", "-f", path)
    assert code == 0, out
    assert f"+ {name}@champion: 2 (assign) ... applied" in out
    assert aliases(server_client, name) == {"champion": 2, "challenger": 3}

    rest_calls.clear()
    code, out, _ = run("apply", "--auto-approve", "-f", path)
    assert code == 0
    assert "No changes. The registry matches" in out
    assert rest_calls and [call for call in rest_calls if call[0] != "GET"] == []


def test_plan_reports_each_reason_against_the_live_registry(
    run: Run, commit_manifest, make_model, server_client
) -> None:
    name = make_model("reasons", versions=4)
    path = commit_manifest(
        f"  {name}:\n    aliases:\n      champion: 2\n      challenger: 3\n      old: 1\n"
    )
    assert run("apply", "--auto-approve", "-f", path)[0] == 0
    server_client.set_registered_model_alias(name, "challenger", "1")  # a click in the UI
    server_client.set_registered_model_alias(name, "stray", "4")
    path = commit_manifest(
        f"  {name}:\n    aliases:\n      champion: 3\n      challenger: 3\n      fresh: 4\n"
    )
    plan = plan_json(run, path)
    reasons = {(c["alias"], c["action"], c["reason"]) for c in plan["changes"]}
    assert reasons == {
        ("champion", "update", "promote"),
        ("challenger", "update", "drift"),
        ("fresh", "create", "assign"),
        ("old", "delete", "removed"),
    }
    assert plan["unmanaged"] == [{"model": name, "alias": "stray", "version": 4}]

    path = commit_manifest(f"  {name}:\n    prune: true\n    aliases:\n      champion: 1\n")
    plan = plan_json(run, path)
    pruned = {(c["alias"], c["reason"]) for c in plan["changes"]}
    assert ("champion", "rollback") in pruned and ("stray", "prune") in pruned


def test_removing_an_alias_from_the_manifest_deletes_it(
    run: Run, commit_manifest, make_model, server_client
) -> None:
    name = make_model("remove")
    assert (
        run(
            "apply",
            "--auto-approve",
            "-f",
            commit_manifest(f"  {name}:\n    aliases:\n      a: 1\n      b: 2\n"),
        )[0]
        == 0
    )
    code, out, _ = run(
        "apply", "--auto-approve", "-f", commit_manifest(f"  {name}:\n    aliases:\n      a: 1\n")
    )
    assert code == 0 and f"- {name}@b: 2 (removed)" in out
    assert aliases(server_client, name) == {"a": 1}


def test_plan_errors_block_apply_and_nothing_is_written(
    run: Run, write_manifest, make_model, server_client
) -> None:
    name = make_model("atomic")
    path = write_manifest(
        f"  {name}:\n    aliases:\n      champion: 2\n      challenger: 9\n"
        "  no-such-model-anywhere:\n    aliases:\n      champion: 1\n"
    )
    code, out, _ = run("apply", "--auto-approve", "-f", path)
    assert code == 1
    assert f"{path}:6:19: version 9 of model '{name}' does not exist" in out
    assert f"{path}:7:3: registered model 'no-such-model-anywhere' does not exist" in out
    assert aliases(server_client, name) == {}
    assert LAST_APPLIED_TAG not in server_client.get_registered_model(name).tags


def test_deleted_version_is_a_plan_error(
    run: Run, write_manifest, make_model, server_client
) -> None:
    name = make_model("deleted")
    server_client.delete_model_version(name, "3")
    plan = plan_json(run, write_manifest(f"  {name}:\n    aliases:\n      champion: 3\n"))
    assert [e["message"] for e in plan["errors"]] == [f"version 3 of model '{name}' does not exist"]
    assert plan["errors"][0]["line"] == 5


def test_version_that_is_not_ready_is_a_plan_error(
    run: Run, write_manifest, make_model, set_version_status
) -> None:
    name = make_model("pending")
    set_version_status(name, 2, "PENDING_REGISTRATION")
    plan = plan_json(run, write_manifest(f"  {name}:\n    aliases:\n      champion: 2\n"))
    assert [e["message"] for e in plan["errors"]] == [
        f"version 2 of model '{name}' is PENDING_REGISTRATION, not READY"
    ]


def test_detailed_exitcode_distinguishes_changes_from_none(
    run: Run, write_manifest, make_model
) -> None:
    name = make_model("exitcode")
    path = write_manifest(f"  {name}:\n    aliases:\n      champion: 1\n")
    assert run("plan", "-f", path, "--detailed-exitcode")[0] == 2
    assert run("plan", "-f", path)[0] == 0
    assert run("apply", "--auto-approve", "-f", path)[0] == 0
    assert run("plan", "-f", path, "--detailed-exitcode")[0] == 0


def test_apply_records_last_applied_and_audit_tags(
    run: Run, write_manifest, make_model, server_client
) -> None:
    name = make_model("audit")
    path = write_manifest(f"  {name}:\n    aliases:\n      champion: 2\n")
    assert (
        run(
            "apply",
            "--auto-approve",
            "-f",
            path,
            env={"GITHUB_SHA": "0123abc", "GITHUB_ACTOR": "octocat"},
        )[0]
        == 0
    )
    record = json.loads(server_client.get_registered_model(name).tags[LAST_APPLIED_TAG])
    assert record["aliases"] == {"champion": 2}
    # GITHUB_SHA is not evidence: this manifest is in no repository, so no commit declared it.
    assert (record["commit"], record["actor"]) == ("local, uncommitted", "octocat")
    audit = json.loads(
        server_client.get_model_version(name, "2").tags[AUDIT_TAG_PREFIX + "champion"]
    )
    assert (audit["commit"], audit["actor"], audit["from"]) == (
        "local, uncommitted",
        "octocat",
        None,
    )


def test_provenance_comes_from_the_manifests_git_repository_outside_actions(
    run: Run, make_model, server_client, tmp_path
) -> None:
    from testing.repos import commit_file, make_repo

    name = make_model("provenance")
    repo = make_repo(tmp_path / "repo")
    sha = commit_file(
        repo, "registry.yaml", f"version: 1\nmodels:\n  {name}:\n    aliases:\n      a: 1\n", "add"
    )
    assert run("apply", "--auto-approve", "-f", str(tmp_path / "repo" / "registry.yaml"))[0] == 0
    record = json.loads(server_client.get_registered_model(name).tags[LAST_APPLIED_TAG])
    assert (record["commit"], record["actor"]) == (sha, "Ann Example")


def test_saved_plan_applies_exactly_and_refuses_when_stale(
    run: Run, write_manifest, make_model, server_client, tmp_path
) -> None:
    name = make_model("saved")
    path = write_manifest(f"  {name}:\n    aliases:\n      champion: 2\n")
    plan_file = str(tmp_path / "plan.json")
    assert run("plan", "-f", path, "--out", plan_file)[0] == 0

    server_client.set_registered_model_alias(name, "champion", "1")
    code, _, err = run("apply", "--plan", plan_file)
    assert code == 1
    assert f"{name}@champion (plan saw None, now 1)" in err
    assert aliases(server_client, name) == {"champion": 1}

    server_client.delete_registered_model_alias(name, "champion")
    code, out, _ = run("apply", "--plan", plan_file, "--format", "json")
    assert code == 0
    assert [c["status"] for c in json.loads(out)["changes"]] == ["applied"]
    assert aliases(server_client, name) == {"champion": 2}


def test_partial_failure_reports_each_change_and_a_rerun_converges(
    run: Run, write_manifest, make_model, server_client, tmp_path
) -> None:
    name = make_model("partial")
    plan_file = str(tmp_path / "plan.json")
    run(
        "plan",
        "-f",
        write_manifest(f"  {name}:\n    aliases:\n      a: 1\n      b: 3\n"),
        "--out",
        plan_file,
    )
    server_client.delete_model_version(name, "3")  # vanishes between plan and apply

    code, out, _ = run("apply", "--plan", plan_file, "--format", "json")
    report = json.loads(out)
    assert code == 1
    assert {c["alias"]: c["status"] for c in report["changes"]} == {"a": "applied", "b": "failed"}
    assert report["changes"][1]["error"]
    assert aliases(server_client, name) == {"a": 1}
    assert json.loads(server_client.get_registered_model(name).tags[LAST_APPLIED_TAG])[
        "aliases"
    ] == {"a": 1}

    path = write_manifest(f"  {name}:\n    aliases:\n      a: 1\n      b: 2\n")
    code, out, _ = run("apply", "--auto-approve", "-f", path, "--format", "json")
    assert code == 0
    assert [(c["alias"], c["status"]) for c in json.loads(out)["changes"]] == [("b", "applied")]
    assert run("plan", "-f", path, "--detailed-exitcode")[0] == 0


def test_apply_fails_when_read_back_disagrees(
    write_manifest, make_model, server_client, mlflow_server
) -> None:
    """A write the server accepted but that someone overwrote at once is reported, not trusted."""
    from controller import api
    from controller.manifest import load_manifest
    from controller.registry import Registry
    from controller.target import RegistryTarget

    name = make_model("verify")

    class RacedRegistry(Registry):
        def set_alias(self, model: str, alias: str, version: int) -> None:
            super().set_alias(model, alias, version)
            server_client.set_registered_model_alias(model, alias, "1")  # a concurrent writer

    registry = RacedRegistry(RegistryTarget(mlflow_server, mlflow_server))
    loaded = load_manifest(write_manifest(f"  {name}:\n    aliases:\n      champion: 3\n"))
    report = api.apply(api.plan(loaded, registry), registry)
    assert not report.ok
    assert report.changes[0].status == "failed"
    assert report.changes[0].error == f"read-back shows {name}@champion -> 1, expected 3"


def test_reading_state_costs_two_searches_per_chunk_however_many_aliases(
    write_manifest, server_client, mlflow_server, rest_calls
) -> None:
    """5 models with 2 aliases each, read 2 names per search: 3 model and 3 version searches,
    and one more model search for the models this manifest owns but no longer declares (by the
    last-applied record that names the owner)."""
    import uuid

    from controller import api
    from controller.manifest import load_manifest
    from controller.registry import Registry
    from controller.target import RegistryTarget

    prefix = f"cost{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i}" for i in range(5)]
    for name in names:
        server_client.create_registered_model(name)
        server_client.create_model_version(name, f"s3://fixtures/{name}/1")
        server_client.set_registered_model_alias(name, "champion", "1")
        server_client.set_registered_model_alias(name, "challenger", "1")
    path = write_manifest(
        "".join(f"  {n}:\n    aliases:\n      champion: 1\n      challenger: 1\n" for n in names)
    )
    registry = Registry(RegistryTarget(mlflow_server, mlflow_server), names_per_search=2)
    rest_calls.clear()
    plan = api.plan(load_manifest(path), registry)
    assert not plan.errors and not plan.changes
    assert plan.summary.unchanged == 10
    assert sorted(endpoint for _, endpoint in rest_calls) == [
        *["/api/2.0/mlflow/model-versions/search"] * 3,
        *["/api/2.0/mlflow/registered-models/search"] * 4,
    ], rest_calls
