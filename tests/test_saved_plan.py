"""Issue 8: a saved plan is untrusted input. Each row of the issue's table through the real CLI
(a fresh process) against the real server, with the registry read afterwards."""

from __future__ import annotations

import hashlib
import json
import shutil
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
        ('{"format_version": 99}', "unsupported format_version 99 (this mlflow-gitops reads 2)"),
        ('{"format_version": 2}', "not a saved plan (missing field 'manifest_path')"),
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
    code, report = cli("apply", "--format", "json", "--tracking-uri", mlflow_server, cwd=other)
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
    extra |= {"evidence": None, "gates": []}  # written as plan writes every change

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
    """`released` has no snapshot to replay: the live owner tag must name the plan's owner."""
    name, plan_file = saved
    victim = make_model("victim")
    server_client.set_registered_model_alias(victim, "prod", "2")
    server_client.set_registered_model_tag(victim, "mlflow-gitops.owner", "team-b")
    before = server_client.get_registered_model(victim).tags

    def release_victim(data: dict) -> None:
        data["released"].append(victim)
        data["summary"]["release"] += 1

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


def test_a_snapshot_edited_to_match_is_still_only_its_own_models(saved, server_client) -> None:
    """Editing snapshot and changes together passes the replay; the registry's check remains."""
    name, plan_file = saved

    def consistent(data: dict) -> None:
        data["changes"][0]["to"] = 2
        data["models"][name]["declared"]["champion"] = 2

    edit(plan_file, consistent)
    code, output = cli("apply", "--plan", "plan.json", cwd=plan_file.parent)
    # Not signed, as the README says: a consistent edit applies what it says, no more.
    assert code == 0, output
    assert aliases(server_client, name) == {"champion": 2}


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


def test_without_the_manifest_or_a_uri_it_applies_to_the_recorded_registry(
    saved, server_client
) -> None:
    name, plan_file = saved
    (plan_file.parent / "registry.yaml").unlink()
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
    assert plan.to_json_dict() == json.loads(plan_file.read_text())
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
