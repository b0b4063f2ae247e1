"""Step outputs and the job summary, written the way GitHub's toolkit reads them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from controller import github_actions as github
from controller.cli import main

ENV = ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")


@pytest.fixture(autouse=True)
def outside_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may themselves run in GitHub Actions; never write that job's files."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def read_outputs(path: Path) -> dict[str, str]:
    """Parse GITHUB_OUTPUT as the runner does: `name<<DELIM`, value lines, `DELIM`."""
    lines = path.read_text(encoding="utf-8").split("\n")
    outputs: dict[str, str] = {}
    i = 0
    while i < len(lines):
        if not lines[i]:
            i += 1
            continue
        name, delimiter = lines[i].split("<<", 1)
        end = lines.index(delimiter, i + 1)
        outputs[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return outputs


def test_outputs_round_trip_any_value_through_the_heredoc_form(tmp_path: Path) -> None:
    path = tmp_path / "output"
    values = {
        "has-changes": "true",
        "markdown": "line 1\nEOF\nname<<EOF\n\n%0A trailing\n",
        "empty": "",
    }
    github.write_outputs(path, values)
    assert read_outputs(path) == values


def test_outputs_append_to_what_earlier_steps_wrote(tmp_path: Path) -> None:
    path = tmp_path / "output"
    path.write_text("earlier=1\n", encoding="utf-8")
    github.write_outputs(path, {"exit-code": "2"})
    assert path.read_text(encoding="utf-8").startswith("earlier=1\nexit-code<<ghadelimiter_")


def test_delimiter_is_redrawn_when_the_value_contains_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = uuid.UUID(int=1), uuid.UUID(int=2)
    draws = iter([first, second])
    monkeypatch.setattr(github.uuid, "uuid4", lambda: next(draws))
    value = f"x\nghadelimiter_{first}\ny"
    github.write_outputs(tmp_path / "output", {"v": value})
    text = (tmp_path / "output").read_text(encoding="utf-8")
    assert text.startswith(f"v<<ghadelimiter_{second}\n")
    assert read_outputs(tmp_path / "output") == {"v": value}


def test_summary_is_appended_after_earlier_steps(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("# earlier\n", encoding="utf-8")
    github.append_summary(path, "### plan\n\n")
    assert path.read_text(encoding="utf-8") == "# earlier\n### plan\n"


def test_publish_redacts_secrets_in_outputs_and_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cr3t-token")
    github.publish({"m": "token s3cr3t-token at http://u:pw@host/"}, "s3cr3t-token")
    assert read_outputs(tmp_path / "output") == {"m": "token *** at http://***@host/"}
    assert (tmp_path / "summary.md").read_text(encoding="utf-8") == "***\n"


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_github_format_annotates_every_manifest_problem(
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("registry.yaml").write_text(
        "version: 1\nmodels:\n  bikes:\n    aliases:\n      champion: '3'\n      latest: 1\n",
        encoding="utf-8",
    )
    assert main([command, "--format", "github"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("::")[1] for line in lines] == [
        "error file=registry.yaml,line=5,col=17,title=manifest error",
        "error file=registry.yaml,line=6,col=7,title=manifest error",
    ]


@pytest.mark.server
def test_plan_in_github_actions_writes_outputs_and_summary(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mlflow_server: str,
    make_model: Callable[..., str],
) -> None:
    name = make_model("gh", 2)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    Path("registry.yaml").write_text(
        f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 2\n      shadow: 9\n",
        encoding="utf-8",
    )
    code = main(
        [
            "plan",
            "--format",
            "github",
            "--detailed-exitcode",
            "--out",
            "plan.json",
            "--tracking-uri",
            mlflow_server,
        ]
    )
    assert code == 1
    assert capsys.readouterr().out.startswith(
        "::error file=registry.yaml,line=6,col=15,title=registry plan error::version 9 of model"
    )
    outputs = read_outputs(tmp_path / "output")
    assert outputs["has-changes"] == "true"
    assert outputs["exit-code"] == "1"
    assert outputs["plan-json"] == str(tmp_path / "plan.json")
    assert outputs["markdown"].startswith("<!-- mlflow-gitops:plan manifest=registry.yaml ")
    assert outputs["markdown"] in (tmp_path / "summary.md").read_text(encoding="utf-8")
