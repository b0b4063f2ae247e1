"""Issue 8: a saved plan is untrusted input. Each row of the issue's table through the real CLI
(a fresh process) against the real server, with the registry read afterwards."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path

import pytest

from controller.errors import PlanFileError
from controller.saved_plan import read_plan
from controller.state import LAST_APPLIED_TAG
from testing.cli import run_cli

pytestmark = pytest.mark.server

STRICT_MODEL = "strict-reading"


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """`python -m controller ARGS` in a fresh process; exit code and everything it printed."""
    proc = run_cli(*args, cwd=cwd, env=env)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output and "internal error" not in output, output
    return proc.returncode, output


def aliases(client, name: str) -> dict[str, int]:
    return {a: int(v) for a, v in client.get_registered_model(name).aliases.items()}


@pytest.fixture
def saved(tmp_path: Path, mlflow_server: str, make_model, server_client):
    """A model with champion -> 1, a manifest moving it to 3, and the plan saved from it."""
    name = make_model("saved")
    server_client.set_registered_model_alias(name, "champion", "1")
    manifest = tmp_path / "registry.yaml"
    manifest.write_text(f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 3\n")
    code, output = cli("plan", "--out", "plan.json", "--tracking-uri", mlflow_server, cwd=tmp_path)
    assert code == 0, output
    return name, tmp_path / "plan.json"


@pytest.fixture(scope="module")
def plan_text(tmp_path_factory: pytest.TempPathFactory, mlflow_server: str) -> str:
    """One real saved plan, made once for the strict-reading tests below (they write nothing)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    name = STRICT_MODEL
    client.create_registered_model(name)
    for version in (1, 2, 3):
        client.create_model_version(name, source=f"s3://fixtures/{name}/{version}")
    client.set_registered_model_alias(name, "champion", "1")
    folder = tmp_path_factory.mktemp("strict")
    (folder / "registry.yaml").write_text(
        f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 3\n"
    )
    code, output = cli("plan", "--out", "plan.json", "--tracking-uri", mlflow_server, cwd=folder)
    assert code == 0, output
    return (folder / "plan.json").read_text()


def edit(plan_file: Path, change) -> None:
    data = json.loads(plan_file.read_text())
    change(data)
    plan_file.write_text(json.dumps(data))


def test_the_plan_records_its_source(saved, mlflow_server: str) -> None:
    _, plan_file = saved
    source = json.loads(plan_file.read_text())["source"]
    manifest = plan_file.parent / "registry.yaml"
    assert source == {
        "registry": mlflow_server,
        "manifest_path": "registry.yaml",
        "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
        "commit": None,
        "dirty": True,  # not in git: no commit declared it
    }


def test_the_plan_records_the_manifests_commit(
    tmp_path: Path, mlflow_server: str, make_model
) -> None:
    from testing.repos import commit_file, make_repo

    name = make_model("commit")
    text = f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 2\n"
    sha = commit_file(make_repo(tmp_path), "registry.yaml", text, "declare")
    code, output = cli("plan", "--out", "plan.json", "--tracking-uri", mlflow_server, cwd=tmp_path)
    assert code == 0, output
    source = json.loads((tmp_path / "plan.json").read_text())["source"]
    assert (source["commit"], source["manifest_sha256"]) == (
        sha,
        hashlib.sha256(text.encode()).hexdigest(),
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{}", "not a saved plan (no format_version)"),
        ('{"format_version": 99}', "unsupported format_version 99 (this mlflow-gitops reads 5)"),
        ('{"format_version": 5}', "not a saved plan (missing field 'manifest_path')"),
        ("[1, 2]", "not a saved plan (not a JSON object)"),
        ("[" * 5000, "not a saved plan (invalid JSON: recursion limit exceeded"),
    ],
)
def test_files_that_are_not_plans_are_refused(
    plan_text: str, tmp_path: Path, mlflow_server: str, server_client, content: str, expected: str
) -> None:
    (tmp_path / "plan.json").write_text(content)
    code, output = cli(
        "apply", "--plan", "plan.json", "--tracking-uri", mlflow_server, cwd=tmp_path
    )
    assert (code, output.startswith(f"error: plan.json: {expected}")) == (1, True), output
    assert aliases(server_client, STRICT_MODEL) == {"champion": 1}


def test_the_output_of_apply_is_not_a_plan(saved, mlflow_server: str, server_client) -> None:
    name, plan_file = saved
    other = plan_file.parent / "other"
    other.mkdir()
    shutil.copy(plan_file.parent / "registry.yaml", other / "registry.yaml")
    code, report = cli(
        "apply", "--auto-approve", "--format", "json", "--tracking-uri", mlflow_server, cwd=other
    )
    assert code == 0 and aliases(server_client, name) == {"champion": 3}
    server_client.set_registered_model_alias(name, "champion", "1")
    (other / "report.json").write_text(report)
    code, output = cli("apply", "--plan", "report.json", cwd=other)
    assert code == 1
    assert output.startswith("error: report.json: not a saved plan (no format_version)"), output
    assert aliases(server_client, name) == {"champion": 1}


def test_an_edited_version_is_refused(saved, server_client) -> None:
    name, plan_file = saved
    edit(plan_file, lambda data: data["changes"][0].update(to=5))
    code, output = cli("apply", "--plan", "plan.json", cwd=plan_file.parent)
    assert (code, output) == (
        1,
        f"error: plan.json: refused: its changes are not what its own snapshot gives "
        f"('{name}@champion' is listed as update 1 -> 5 (promote), the snapshot gives "
        "update 1 -> 3 (promote)); run plan again\n",
    )
    assert aliases(server_client, name) == {"champion": 1}


def test_a_change_on_a_model_outside_the_snapshot_is_refused(
    saved, make_model, server_client
) -> None:
    name, plan_file = saved
    victim = make_model("victim")
    server_client.set_registered_model_alias(victim, "prod", "2")
    extra = {"model": victim, "alias": "prod", "action": "delete", "from": 2, "to": None}
    extra |= {
        "copy": None,
        "evidence": None,
        "gates": [],
        "rollback": None,
    }  # written as plan writes every change

    def append(data: dict) -> None:
        data["changes"].append({**extra, "reason": "prune"})
        data["summary"]["delete"] += 1

    edit(plan_file, append)
    code, output = cli("apply", "--plan", "plan.json", cwd=plan_file.parent)
    assert (code, output) == (
        1,
        f"error: plan.json: refused: it changes '{victim}', which its snapshot does not hold; "
        "run plan again\n",
    )
    assert aliases(server_client, victim) == {"prod": 2}
    assert aliases(server_client, name) == {"champion": 1}


def test_releasing_a_model_this_manifest_does_not_manage_is_refused(
    saved, make_model, server_client
) -> None:
    """`released` has no snapshot to replay: the live owner tag must name the plan's owner,
    even when the manifest was edited to release it too (and the plan to record that)."""
    name, plan_file = saved
    victim = make_model("victim")
    server_client.set_registered_model_alias(victim, "prod", "2")
    server_client.set_registered_model_tag(victim, "mlflow-gitops.owner", "team-b")
    before = server_client.get_registered_model(victim).tags
    manifest = plan_file.parent / "registry.yaml"
    manifest.write_text(manifest.read_text() + f"release: [{victim}]\n")

    def release_victim(data: dict) -> None:
        data["released"].append(victim)
        data["ownership"].append({"model": victim, "kind": "release", "previous": None})
        data["summary"]["release"] += 1
        data["source"]["manifest_sha256"] = hashlib.sha256(manifest.read_bytes()).hexdigest()

    edit(plan_file, release_victim)
    code, output = cli("apply", "--plan", "plan.json", cwd=plan_file.parent)
    assert code == 1
    assert output.endswith(
        f"error: the saved plan releases models this manifest does not manage: '{victim}' "
        "(managed by team-b). Run plan again.\n"
    ), output
    assert server_client.get_registered_model(victim).tags == before
    assert aliases(server_client, victim) == {"prod": 2}
    assert aliases(server_client, name) == {"champion": 1}


def test_a_snapshot_edited_to_declare_another_version_is_refused(saved, server_client) -> None:
    """Editing snapshot and changes together passes the replay; the manifest's bytes do not."""
    name, plan_file = saved

    def consistent(data: dict) -> None:
        data["changes"][0]["to"] = 2
        data["models"][name]["declared"]["champion"] = 2

    edit(plan_file, consistent)
    code, output = cli("apply", "--plan", "plan.json", cwd=plan_file.parent)
    assert (code, output) == (
        1,
        f"error: plan.json: refused: what it declares for '{name}' is not what registry.yaml "
        "declares; run plan again\n",
    )
    assert aliases(server_client, name) == {"champion": 1}


def plan_saved_from(folder: Path, manifest: str, server: str, **env: str) -> Path:
    (folder / "registry.yaml").write_text(manifest)
    cli("plan", "--out", "plan.json", "--tracking-uri", server, cwd=folder, env=env)
    return folder / "plan.json"


def without_policy(data: dict) -> None:
    """What someone who can write the file would do to get a refused change through."""
    data.update(gate_specs={}, freeze=[], errors=[], frozen=None)


def test_a_plan_edited_to_drop_its_gates_is_checked_against_the_manifests_gates(
    tmp_path: Path, mlflow_server: str, make_model, server_client
) -> None:
    name = make_model("gated")
    server_client.set_registered_model_alias(name, "champion", "1")
    manifest = (
        f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 3\n"
        "    gates:\n      champion: {require_tags: {approved: 'yes'}}\n"
    )
    plan_file = plan_saved_from(tmp_path, manifest, mlflow_server)
    assert json.loads(plan_file.read_text())["errors"]  # the gate failed when planned
    edit(plan_file, without_policy)
    code, output = cli("apply", "--plan", "plan.json", "-f", "registry.yaml", cwd=tmp_path)
    assert code == 1, output
    assert "gates fail on fresh data; nothing was applied" in output, output
    assert aliases(server_client, name) == {"champion": 1}


def test_a_plan_edited_to_drop_its_freeze_is_frozen_by_the_manifests_window(
    tmp_path: Path, mlflow_server: str, make_model, server_client
) -> None:
    name = make_model("frozen")
    server_client.set_registered_model_alias(name, "champion", "1")
    manifest = (
        f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 3\n"
        'freeze:\n  - {cron: "0 17 * * 5", duration: 64h, reason: weekend freeze}\n'
    )
    saturday = {"MLFLOW_GITOPS_NOW": "2026-11-28T12:00:00Z"}
    plan_file = plan_saved_from(tmp_path, manifest, mlflow_server, **saturday)
    edit(plan_file, without_policy)
    code, output = cli("apply", "--plan", "plan.json", cwd=tmp_path, env=saturday)
    assert code == 1, output
    assert "apply is frozen: weekend freeze (freeze from 2026-11-27 17:00 UTC" in output, output
    assert aliases(server_client, name) == {"champion": 1}


def test_a_malformed_policy_in_the_plan_file_is_one_line_where_it_is_read(saved) -> None:
    _, plan_file = saved
    window = {"cron": "0 17 *", "duration": "1h", "reason": "x"}
    edit(plan_file, lambda d: d.update(freeze=[window]))
    code, output = cli("apply", "--plan", "plan.json", cwd=plan_file.parent)
    assert (code, output) == (
        1,
        "error: plan.json: not a saved plan (freeze.0.cron: Value error, malformed cron "
        "expression '0 17 *': need 5 fields (minute hour day-of-month month day-of-week))\n",
    )


def test_non_finite_metrics_are_written_as_strict_json_and_apply(
    tmp_path: Path, mlflow_server: str, server_client
) -> None:
    name = f"nan{uuid.uuid4().hex[:8]}"
    server_client.create_registered_model(name)
    for version, rmse in ((1, 1.0), (2, float("nan")), (3, 2.0)):
        run = server_client.create_run("0")
        server_client.log_metric(run.info.run_id, "rmse", rmse)
        server_client.create_model_version(
            name, f"s3://fixtures/{name}/{version}", run_id=run.info.run_id
        )
    server_client.set_registered_model_alias(name, "champion", "2")
    manifest = f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 3\n"
    plan_file = plan_saved_from(tmp_path, manifest, mlflow_server)

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} is not JSON")

    data = json.loads(plan_file.read_text(), parse_constant=refuse)
    evidence = data["changes"][0]["evidence"]
    assert evidence["from"]["metrics"] == {"rmse": {"non_finite": "NaN"}}
    assert evidence["to"]["metrics"] == {"rmse": 2.0}
    code, output = cli("apply", "--plan", "plan.json", cwd=tmp_path)
    assert code == 0, output
    assert aliases(server_client, name) == {"champion": 3}


def test_nan_tokens_in_a_plan_file_are_refused(plan_text: str, tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text(plan_text.replace('"owner": null', '"owner": NaN', 1))
    with pytest.raises(PlanFileError) as caught:
        read_plan(str(tmp_path / "plan.json"))
    assert str(caught.value).startswith(f"{tmp_path / 'plan.json'}: not a saved plan (invalid JSON")


def test_an_explicit_manifest_must_be_the_one_planned(saved, server_client) -> None:
    name, plan_file = saved
    folder = plan_file.parent
    (folder / "other.yaml").write_text(
        f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 2\n"
    )
    code, output = cli("apply", "-f", "other.yaml", "--plan", "plan.json", cwd=folder)
    assert code == 1
    assert output.startswith(
        "error: plan.json: other.yaml is not the manifest the plan was made from (registry.yaml, "
    ), output
    assert aliases(server_client, name) == {"champion": 1}

    shutil.copy(folder / "registry.yaml", folder / "same.yaml")
    code, output = cli("apply", "-f", "same.yaml", "--plan", "plan.json", cwd=folder)
    assert code == 0, output
    assert aliases(server_client, name) == {"champion": 3}


def test_without_the_manifest_it_planned_from_a_plan_is_refused(saved, server_client) -> None:
    name, plan_file = saved
    (plan_file.parent / "registry.yaml").unlink()
    code, output = cli("apply", "--plan", "plan.json", cwd=plan_file.parent)
    assert (code, output) == (1, "registry.yaml:1:1: no such file\n")
    assert aliases(server_client, name) == {"champion": 1}


def test_without_a_uri_it_applies_to_the_recorded_registry(saved, server_client) -> None:
    name, plan_file = saved
    code, output = cli("apply", "--plan", "plan.json", cwd=plan_file.parent)
    assert code == 0, output
    assert aliases(server_client, name) == {"champion": 3}
    assert json.loads(server_client.get_registered_model(name).tags[LAST_APPLIED_TAG])[
        "aliases"
    ] == {"champion": 3}
    assert not (plan_file.parent / "mlflow.db").exists()


def test_another_registry_is_refused_and_never_created(
    saved, mlflow_server: str, server_client
) -> None:
    name, plan_file = saved
    folder = plan_file.parent
    for env in ({"MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"}, {}):
        args = () if env else ("--tracking-uri", "sqlite:///mlflow.db")
        code, output = cli("apply", "--plan", "plan.json", *args, cwd=folder, env=env)
        assert (code, output) == (
            1,
            f"error: plan.json: the plan was made against {mlflow_server}, but this apply "
            "would write to sqlite:///mlflow.db; apply it there, or run plan again\n",
        )
    assert not (folder / "mlflow.db").exists()
    assert aliases(server_client, name) == {"champion": 1}


def test_credentials_in_the_uri_are_not_recorded_and_name_the_same_registry(
    tmp_path: Path, mlflow_server: str, make_model, server_client
) -> None:
    name = make_model("creds")
    with_password = mlflow_server.replace("http://", "http://ann:hunter2-secret@")
    (tmp_path / "registry.yaml").write_text(
        f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 2\n"
    )
    code, output = cli("plan", "--out", "plan.json", "--tracking-uri", with_password, cwd=tmp_path)
    assert code == 0, output
    text = (tmp_path / "plan.json").read_text()
    assert "hunter2" not in text and "ann" not in text
    assert json.loads(text)["source"]["registry"] == mlflow_server
    code, output = cli(
        "apply", "--plan", "plan.json", "--tracking-uri", with_password, cwd=tmp_path
    )
    assert code == 0, output
    assert "hunter2" not in output
    assert aliases(server_client, name) == {"champion": 2}


def test_a_plan_written_by_plan_reads_back_to_the_same_value(
    plan_text: str, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan_text)
    plan, source = read_plan(str(plan_file))
    assert plan.model_dump(mode="json", by_alias=True) == json.loads(plan_file.read_text())
    assert source == plan.source


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(extra=1), "not a saved plan (unknown field 'extra')"),
        (lambda d: d["changes"][0].update(status="applied"),
         "not a saved plan (unknown field 'changes.0.status')"),
        (lambda d: d["changes"][0].pop("reason"), "not a saved plan (changes.0.reason: Field"),
        (lambda d: d["changes"][0].update(to="3"), "not a saved plan (changes.0.to: Input should"),
        (lambda d: d["changes"][0].update(to=True), "not a saved plan (changes.0.to: Input should"),
        (lambda d: d["source"].update(registry=""), "not a saved plan (source.registry: String"),
        (lambda d: d.update(source=None), "not a saved plan (no source)"),
        (lambda d: d["summary"].update(create=7), "refused: its changes are not what its own "
         "snapshot gives (the changes' order, the unmanaged aliases or the summary differ)"),
        (lambda d: d["changes"].clear(), "refused: its changes are not what its own snapshot "
         "gives ("),
    ],
)  # fmt: skip
def test_strict_reading_names_what_is_wrong(
    plan_text: str, tmp_path: Path, change, expected: str
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan_text)
    edit(plan_file, change)
    with pytest.raises(PlanFileError) as caught:
        read_plan(str(plan_file))
    assert str(caught.value).startswith(f"{plan_file}: {expected}"), str(caught.value)
