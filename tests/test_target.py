"""`plan --target` and `apply --target`: one model moves while another model's block is broken."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from testing.cli import invoke_cli
from testing.repos import commit_file, make_repo

pytestmark = pytest.mark.server

PARTIAL = "Targeted plan: 1 of 3 models; the rest is not checked"


def cli(*args: str, cwd: Path) -> tuple[int, str]:
    """The CLI in this process, from `cwd`: exit code and everything it printed."""
    import os

    before = os.getcwd()
    os.chdir(cwd)
    try:
        result = invoke_cli(*args)
    finally:
        os.chdir(before)
    output = result.out + result.err
    assert "Traceback" not in output and "internal error" not in output, output
    return result.code, output


def aliases(client, name: str) -> dict[str, int]:
    return {a: int(v) for a, v in client.get_registered_model(name).aliases.items()}


@pytest.fixture
def incident(tmp_path: Path, make_model: Callable[..., str], server_client) -> dict[str, str]:
    """`bikes` to roll back (champion 3 -> 2, challenger 3 -> 1), `churn` declaring a version
    that does not exist, and `ghost`, a model the registry does not have; committed."""
    names = {"bikes": make_model("bikes"), "churn": make_model("churn")}
    for name in names.values():
        server_client.set_registered_model_alias(name, "champion", "3")
        server_client.set_registered_model_alias(name, "challenger", "3")
    text = (
        "version: 1\nmodels:\n"
        f"  {names['bikes']}:\n    aliases:\n      champion: 2\n      challenger: 1\n"
        f"  {names['churn']}:\n    aliases:\n      champion: 9\n      challenger: 3\n"
        f"  ghost-{names['bikes']}:\n    aliases:\n      champion: 1\n"
    )
    commit_file(make_repo(tmp_path), "registry.yaml", text, "roll bikes back; churn is broken")
    return names


def test_the_whole_plan_is_blocked_by_the_other_models(
    tmp_path: Path, mlflow_server: str, incident: dict[str, str]
) -> None:
    code, output = cli("plan", "--tracking-uri", mlflow_server, cwd=tmp_path)
    assert code == 1
    assert "version 9 of model" in output and "does not exist" in output


def test_apply_target_moves_one_model_and_leaves_the_broken_one_alone(
    tmp_path: Path, mlflow_server: str, incident: dict[str, str], server_client
) -> None:
    bikes, churn = incident["bikes"], incident["churn"]
    code, output = cli(
        "apply", "--target", bikes, "--auto-approve", "--format", "json",
        "--tracking-uri", mlflow_server, cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, output
    report = json.loads(output[output.index("{") :])
    assert [(c["model"], c["alias"], c["to"], c["status"]) for c in report["changes"]] == [
        (bikes, "champion", 2, "applied"),
        (bikes, "challenger", 1, "applied"),
    ]
    assert report["target"]["addresses"] == [{"model": bikes, "alias": None}]
    assert report["target"]["headline"] == PARTIAL
    # The registry afterwards is what the report says, and nothing else moved.
    assert aliases(server_client, bikes) == {"champion": 2, "challenger": 1}
    assert aliases(server_client, churn) == {"champion": 3, "challenger": 3}
    assert not any(
        key.startswith("mlflow-gitops") for key in server_client.get_registered_model(churn).tags
    )


def test_a_targeted_plan_says_it_is_partial_in_every_format(
    tmp_path: Path, mlflow_server: str, incident: dict[str, str]
) -> None:
    bikes = incident["bikes"]
    target = ("--target", bikes, "--tracking-uri", mlflow_server)
    code, text = cli("plan", *target, cwd=tmp_path)
    assert code == 0, text
    assert f"{PARTIAL}: {bikes}." in text
    assert "ghost-" not in text  # not read, not checked: the targeted plan never asks for it
    code, out = cli("plan", "--format", "json", *target, cwd=tmp_path)
    assert json.loads(out)["target"]["headline"] == PARTIAL
    code, markdown = cli("plan", "--format", "markdown", *target, cwd=tmp_path)
    assert f"> **{PARTIAL}**: `{bikes}`." in markdown
    code, github = cli("plan", "--format", "github", *target, cwd=tmp_path)
    assert f"::warning title=targeted plan::{PARTIAL}" in github


def test_an_alias_target_turns_the_rest_of_its_model_into_warnings(
    tmp_path: Path, mlflow_server: str, incident: dict[str, str], server_client
) -> None:
    churn = incident["churn"]
    code, output = cli(
        "apply", "--target", f"{churn}@challenger", "--auto-approve",
        "--tracking-uri", mlflow_server, cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, output
    assert "Warnings (outside the target; they do not block it):" in output
    assert f"registry.yaml:9:17: version 9 of model {churn!r} does not exist" in output
    assert "Plan: 0 to create, 0 to update, 0 to delete, 1 to adopt." in output  # no alias moves
    assert "Apply: 0 applied, 0 failed, 0 skipped; 1 model changed hands." in output
    assert aliases(server_client, churn) == {"champion": 3, "challenger": 3}


def test_a_saved_targeted_plan_applies_only_its_target(
    tmp_path: Path, mlflow_server: str, incident: dict[str, str], server_client
) -> None:
    bikes, churn = incident["bikes"], incident["churn"]
    address = f"{bikes}@champion"
    flags = ("--tracking-uri", mlflow_server)
    code, output = cli("plan", "--target", address, "--out", "plan.json", *flags, cwd=tmp_path)
    assert code == 0, output
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert saved["format_version"] == 5
    assert saved["target"]["addresses"] == [{"model": bikes, "alias": "champion"}]
    assert list(saved["models"]) == [bikes]

    code, output = cli("apply", "--plan", "plan.json", "--target", churn, *flags, cwd=tmp_path)
    assert code == 1
    assert output.strip() == (
        f"error: --target {churn} is not the target plan.json was planned for ({address}); "
        "run plan --target again"
    )

    code, output = cli("apply", "--plan", "plan.json", "--auto-approve", *flags, cwd=tmp_path)
    assert code == 0, output
    assert aliases(server_client, bikes) == {"champion": 2, "challenger": 3}
    assert aliases(server_client, churn) == {"champion": 3, "challenger": 3}


def test_a_saved_plan_that_plans_beyond_its_target_is_refused(
    tmp_path: Path, mlflow_server: str, incident: dict[str, str], server_client
) -> None:
    bikes = incident["bikes"]
    flags = ("--tracking-uri", mlflow_server)
    code, output = cli(
        "plan", "--target", f"{bikes}@champion", "--out", "plan.json", *flags, cwd=tmp_path
    )
    assert code == 0, output
    plan_file = tmp_path / "plan.json"
    edited = json.loads(plan_file.read_text())
    edited["target"]["addresses"] = [{"model": bikes, "alias": "challenger"}]
    plan_file.write_text(json.dumps(edited))
    code, output = cli("apply", "--plan", "plan.json", "--auto-approve", *flags, cwd=tmp_path)
    assert code == 1
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
    assert aliases(server_client, bikes) == {"champion": 3, "challenger": 3}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nosuch", "--target nosuch: no model 'nosuch' in registry.yaml"),
        (
            "{bikes}@nosuch",
            "--target {bikes}@nosuch: model '{bikes}' has no alias 'nosuch' in registry.yaml",
        ),
    ],
)
def test_an_unknown_target_is_one_line(
    tmp_path: Path, mlflow_server: str, incident: dict[str, str], target: str, message: str
) -> None:
    for command in ("plan", "apply"):
        code, output = cli(
            command, "--target", target.format(**incident), "--tracking-uri", mlflow_server,
            cwd=tmp_path,
        )  # fmt: skip
        assert (code, output.strip()) == (1, "error: " + message.format(**incident))
