"""`update`: tracked aliases move forward to the newest matching version, as reviewable edits.

Against the real server and real git repositories, with a bare repository as `origin`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import git
import pytest

from controller.cli import main
from testing.repos import commit_file, make_repo

if TYPE_CHECKING:
    from mlflow import MlflowClient

CLI = Path(sys.executable).parent / "mlflow-gitops"


def manifest_text(model: str, champion: int, challenger: int) -> str:
    return (
        "version: 1\n"
        "models:\n"
        f"  {model}:\n"
        "    aliases:\n"
        f"      champion: {champion}   # serving\n"
        f"      challenger: {challenger}\n"
        "    track:\n"
        "      challenger: latest\n"
        "      champion: {latest: {tags: {validation_status: approved}}}\n"
    )


@pytest.fixture
def work(tmp_path: Path) -> git.Repo:
    """A clone-like working repository whose `origin` is a bare repository."""
    repo = make_repo(tmp_path / "work")
    bare = tmp_path / "origin.git"
    git.Repo.init(bare, bare=True, initial_branch="main")
    repo.create_remote("origin", str(bare))
    return repo


def manifest(repo: git.Repo) -> Path:
    return Path(repo.working_tree_dir) / "registry.yaml"


def declare(repo: git.Repo, model: str, champion: int, challenger: int) -> None:
    commit_file(repo, "registry.yaml", manifest_text(model, champion, challenger), "declare")
    repo.git.push("origin", "main")


def update(
    repo: git.Repo, server: str, capsys: pytest.CaptureFixture[str], *args: str
) -> list[dict[str, object]]:
    """Run `update --format json` in process; return its tracked aliases."""
    capsys.readouterr()
    code = main(
        ["update", *args, "-f", str(manifest(repo)), "--tracking-uri", server, "--format", "json"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)["tracked"]


def decisions(tracked: list[dict[str, object]]) -> dict[str, tuple[object, object, object]]:
    return {str(t["alias"]): (t["declared"], t["candidate"], t["decision"]) for t in tracked}


def approve(client: MlflowClient, model: str, version: int) -> None:
    client.set_model_version_tag(model, str(version), "validation_status", "approved")


def new_version(client: MlflowClient, model: str) -> int:
    return int(client.create_model_version(model, source=f"s3://fixtures/{model}/new").version)


def test_latest_and_tag_policies_edit_one_line_each(
    work: git.Repo,
    mlflow_server: str,
    make_model: Callable[..., str],
    server_client: MlflowClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = make_model("track", 5)
    approve(server_client, model, 3)
    declare(work, model, champion=2, challenger=4)

    tracked = update(work, mlflow_server, capsys)

    assert decisions(tracked) == {"challenger": (4, 5, "bump"), "champion": (2, 3, "bump")}
    assert manifest(work).read_text() == manifest_text(model, champion=3, challenger=5)
    assert work.git.diff("--numstat") == "2\t2\tregistry.yaml"
    assert work.active_branch.name == "main"
    assert work.head.commit.summary == "declare"


def test_a_version_registered_after_a_run_is_picked_up_by_the_next(
    work: git.Repo,
    mlflow_server: str,
    make_model: Callable[..., str],
    server_client: MlflowClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = make_model("track", 2)
    approve(server_client, model, 1)
    declare(work, model, champion=1, challenger=2)

    assert decisions(update(work, mlflow_server, capsys, "--commit")) == {
        "challenger": (2, 2, "up-to-date"),
        "champion": (1, 1, "up-to-date"),
    }
    assert {head.name for head in work.heads} == {"main"}
    assert work.git.status("--porcelain") == ""

    version = new_version(server_client, model)  # 3, not approved: champion stays
    assert decisions(update(work, mlflow_server, capsys, "--commit")) == {
        "challenger": (2, version, "bump"),
        "champion": (1, 1, "up-to-date"),
    }
    assert f"update/{model}-challenger-v{version}" in work.heads


def test_tracking_never_moves_an_alias_back(
    work: git.Repo,
    mlflow_server: str,
    make_model: Callable[..., str],
    server_client: MlflowClient,
    set_version_status: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = make_model("track", 3)
    approve(server_client, model, 1)
    set_version_status(model, 3, "FAILED_REGISTRATION")  # newest, not READY
    declare(work, model, champion=2, challenger=3)  # champion 2 was set by hand: not approved
    before = manifest(work).read_bytes()

    tracked = update(work, mlflow_server, capsys)

    assert decisions(tracked) == {"challenger": (3, 2, "hold"), "champion": (2, 1, "hold")}
    assert {t["reason"] for t in tracked} == {
        "declared 3 is newer than 2; tracking never moves back",
        "declared 2 is newer than 1; tracking never moves back",
    }
    assert manifest(work).read_bytes() == before


def test_each_bump_gets_its_own_branch_and_commit_from_the_start_branch(
    work: git.Repo,
    mlflow_server: str,
    make_model: Callable[..., str],
    server_client: MlflowClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = make_model("track", 4)
    approve(server_client, model, 3)
    declare(work, model, champion=1, challenger=2)
    base = work.head.commit

    tracked = update(work, mlflow_server, capsys, "--commit", "--push")

    assert work.active_branch.name == "main"
    assert work.head.commit == base
    assert manifest(work).read_text() == manifest_text(model, champion=1, challenger=2)
    bare = git.Repo(work.remotes.origin.url)
    for alias, (old, new) in {"challenger": (2, 4), "champion": (1, 3)}.items():
        branch = f"update/{model}-{alias}-v{new}"
        (result,) = [t for t in tracked if t["alias"] == alias]
        assert result["branch"] == branch
        commit = work.heads[branch].commit
        assert result["commit"] == commit.hexsha
        assert commit.parents == (base,)
        assert commit.message == (
            f"update {model}@{alias}: {old} -> {new}\n\n"
            f"Model: {model}\nAlias: {alias}\nFrom: {old}\nTo: {new}\n"
        )
        assert list(commit.stats.files) == ["registry.yaml"]
        assert commit.stats.total["lines"] == 2  # one line out, one in
        assert bare.heads[branch].commit.hexsha == commit.hexsha


def test_an_existing_bump_branch_is_not_duplicated_and_a_newer_version_supersedes_it(
    work: git.Repo,
    mlflow_server: str,
    make_model: Callable[..., str],
    server_client: MlflowClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = make_model("track", 3)
    approve(server_client, model, 1)
    declare(work, model, champion=1, challenger=2)
    first = update(work, mlflow_server, capsys, model, "challenger", "--commit", "--push")
    branch = f"update/{model}-challenger-v3"
    assert decisions(first) == {"challenger": (2, 3, "bump")}

    # A fresh clone, as the scheduled workflow has: the branch exists only on the remote.
    clone = git.Repo.clone_from(work.remotes.origin.url, tmp_path / "clone")
    again = update(clone, mlflow_server, capsys, model, "challenger", "--commit", "--push")
    assert decisions(again) == {"challenger": (2, 3, "branch-exists")}
    assert again[0]["reason"] == f"branch {branch} already holds this bump"
    assert {head.name for head in clone.heads} == {"main"}

    version = new_version(server_client, model)
    newer = update(clone, mlflow_server, capsys, model, "challenger", "--commit", "--push")
    assert decisions(newer) == {"challenger": (2, version, "bump")}
    assert newer[0]["branch"] == f"update/{model}-challenger-v{version}"
    assert newer[0]["supersedes"] == [branch]
    assert branch in git.Repo(work.remotes.origin.url).heads  # left for its PR to be closed


def test_the_request_count_does_not_grow_with_tracked_aliases(
    work: git.Repo,
    mlflow_server: str,
    make_model: Callable[..., str],
    server_client: MlflowClient,
    rest_calls: list[tuple[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    models = [make_model("track", 2) for _ in range(3)]
    one_alias = "version: 1\nmodels:\n" + "".join(
        f"  {m}:\n    aliases: {{a: 1}}\n    track: {{a: latest}}\n" for m in models
    )
    many = "version: 1\nmodels:\n" + "".join(
        f"  {m}:\n    aliases: {{{', '.join(f'a{i}: 1' for i in range(8))}}}\n"
        f"    track: {{{', '.join(f'a{i}: latest' for i in range(8))}}}\n"
        for m in models
    )
    counts = []
    for text in (one_alias, many):
        manifest(work).write_text(text)
        rest_calls.clear()
        tracked = update(work, mlflow_server, capsys)
        assert {t["decision"] for t in tracked} == {"bump"}
        counts.append(list(rest_calls))
    assert counts[0] == counts[1] == [("GET", "/api/2.0/mlflow/model-versions/search")]


def test_naming_an_untracked_alias_is_one_error_line(
    work: git.Repo, mlflow_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    declare(work, "bikes", champion=1, challenger=2)
    path = manifest(work)
    code = main(["update", "bikes", "shadow", "-f", str(path), "--tracking-uri", mlflow_server])
    assert code == 1
    assert capsys.readouterr().err == f"error: {path} does not track bikes@shadow (see track:)\n"


def test_the_cli_reports_each_alias_and_where_its_bump_went(
    work: git.Repo,
    mlflow_server: str,
    make_model: Callable[..., str],
    server_client: MlflowClient,
) -> None:
    model = make_model("track", 3)
    declare(work, model, champion=1, challenger=2)
    path = manifest(work)
    result = subprocess.run(
        [CLI, "update", "-f", path, "--tracking-uri", mlflow_server, "--commit"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    sha = work.heads[f"update/{model}-challenger-v3"].commit.hexsha
    assert result.stdout == (
        f"~ {model}@challenger: 2 -> 3 (newer version 3)\n"
        f"    committed {sha[:7]} on branch update/{model}-challenger-v3\n"
        f"  {model}@champion: 1 (no READY version with validation_status=approved)\n"
        f"\n{path}: 1 of 2 tracked aliases committed.\n"
    )


def test_promote_latest_is_the_one_off_lookup_under_the_alias_policy(
    work: git.Repo,
    mlflow_server: str,
    make_model: Callable[..., str],
    server_client: MlflowClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = make_model("track", 4)
    approve(server_client, model, 2)
    declare(work, model, champion=1, challenger=2)
    path = manifest(work)

    def promote(alias: str, *extra: str) -> int:
        args = ["promote", model, alias, "latest", "-f", str(path), *extra]
        return main([*args, "--tracking-uri", mlflow_server])

    assert promote("champion") == 0  # tracked with validation_status=approved: 2, not 4
    assert promote("shadow") == 0  # not tracked: the newest READY version
    assert capsys.readouterr().out == (
        f"{path}: {model}@champion 1 -> 2\n{path}: {model}@shadow none -> 4\n"
    )
    assert path.read_text() == manifest_text(model, 2, 2).replace(
        "      challenger: 2\n", "      challenger: 2\n      shadow: 4\n"
    )

    assert promote("champion", "--offline") == 1
    assert capsys.readouterr().err == (
        "error: `latest` is looked up in the registry; name a version with --offline\n"
    )


def test_promote_latest_with_no_matching_version_is_refused(
    work: git.Repo,
    mlflow_server: str,
    make_model: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = make_model("track", 2)
    declare(work, model, champion=1, challenger=2)
    before = manifest(work).read_bytes()
    code = main(
        ["promote", model, "champion", "latest", "-f", str(manifest(work)),
         "--tracking-uri", mlflow_server]
    )  # fmt: skip
    assert code == 1
    assert capsys.readouterr().err == (
        f"error: no READY version with validation_status=approved of model {model!r} "
        "in the registry\n"
    )
    assert manifest(work).read_bytes() == before


def test_a_bump_branch_that_was_never_pushed_is_named_not_recommitted(
    work: git.Repo,
    mlflow_server: str,
    make_model: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = make_model("track", 3)
    declare(work, model, champion=1, challenger=2)
    update(work, mlflow_server, capsys, model, "challenger", "--commit")
    branch = f"update/{model}-challenger-v3"
    commit = work.heads[branch].commit

    (pushing,) = update(work, mlflow_server, capsys, model, "challenger", "--commit", "--push")

    assert pushing["decision"] == "branch-exists"
    assert pushing["reason"] == (
        f"branch {branch} already holds this bump, but only here: "
        f"push it with git push -u origin {branch}"
    )
    assert work.heads[branch].commit == commit
    assert branch not in git.Repo(work.remotes.origin.url).heads
