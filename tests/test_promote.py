"""`promote`: a one-line manifest edit, optionally a clean commit on a new branch, pushed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import git
import pytest

from controller.cli import main
from controller.gitops import github_compare_url
from testing.repos import commit_file, make_repo, work_tree

MANIFEST = """\
# Which version each alias points to.
version: 1
models:
  bikes:
    aliases:
      champion: 3   # serving
      challenger: 4
"""


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    repo = make_repo(tmp_path / "work")
    commit_file(repo, "registry.yaml", MANIFEST, "declare bikes")
    return repo


def manifest(repo: git.Repo) -> Path:
    return work_tree(repo) / "registry.yaml"


def promote(repo: git.Repo, *args: str) -> int:
    return main(["promote", *args, "-f", str(manifest(repo))])


def test_promote_changes_exactly_one_line(
    repo: git.Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert promote(repo, "bikes", "champion", "5", "--offline") == 0
    assert repo.git.diff("--numstat") == "1\t1\tregistry.yaml"
    assert "+      champion: 5   # serving" in repo.git.diff()
    assert capsys.readouterr().out == f"{manifest(repo)}: bikes@champion 3 -> 5\n"
    assert repo.active_branch.name == "main"


def test_commit_goes_on_a_new_branch_and_holds_only_the_manifest(repo: git.Repo) -> None:
    commit_file(repo, "notes.txt", "draft\n", "notes")
    (work_tree(repo) / "notes.txt").write_text("staged edit\n")
    repo.index.add(["notes.txt"])
    base = repo.head.commit

    assert promote(repo, "bikes", "champion", "5", "--offline", "--commit") == 0

    head = repo.head.commit
    assert repo.active_branch.name == "promote/bikes-champion-v5"
    assert head.parents == (base,)
    assert list(head.stats.files) == ["registry.yaml"]
    assert head.message == (
        "promote bikes@champion: 3 -> 5\n\nModel: bikes\nAlias: champion\nFrom: 3\nTo: 5\n"
    )
    assert [d.a_path for d in repo.index.diff("HEAD")] == ["notes.txt"]  # still staged
    assert repo.heads.main.commit == base


def test_a_new_alias_is_recorded_as_from_none(repo: git.Repo) -> None:
    assert promote(repo, "bikes", "shadow", "6", "--offline", "--commit", "--branch", "try") == 0
    assert repo.active_branch.name == "try"
    assert repo.head.commit.summary == "promote bikes@shadow: none -> 6"
    assert "From: none\nTo: 6" in repo.head.commit.message
    assert manifest(repo).read_text() == MANIFEST + "      shadow: 6\n"


def refused(
    repo: git.Repo, capsys: pytest.CaptureFixture[str], *args: str, before: bytes | None = None
) -> str:
    """Run a promote that must be refused; check nothing moved and return its one error line."""
    before = manifest(repo).read_bytes() if before is None else before
    branches = {head.name for head in repo.heads}
    assert promote(repo, *args) == 1
    assert manifest(repo).read_bytes() == before
    assert {head.name for head in repo.heads} == branches
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    return err


def test_a_staged_change_to_the_manifest_is_refused(
    repo: git.Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest(repo).write_text(MANIFEST.replace("challenger: 4", "challenger: 2"))
    repo.index.add(["registry.yaml"])
    err = refused(repo, capsys, "bikes", "champion", "5", "--offline", "--commit")
    assert err == (
        f"error: {manifest(repo)} has uncommitted changes; commit or stash them first, "
        "so the new commit holds only this change\n"
    )


def test_an_unstaged_change_to_the_manifest_is_refused(
    repo: git.Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest(repo).write_text(MANIFEST + "# note\n")
    err = refused(repo, capsys, "bikes", "champion", "5", "--offline", "--commit")
    assert "has uncommitted changes" in err


def test_an_existing_branch_is_refused(repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.create_head("promote/bikes-champion-v5")
    err = refused(repo, capsys, "bikes", "champion", "5", "--offline", "--commit")
    assert err == (
        "error: branch 'promote/bikes-champion-v5' already exists (an earlier run committed "
        "there?): push it with `git push --set-upstream origin promote/bikes-champion-v5`, or "
        "delete it with `git branch -D promote/bikes-champion-v5` and run again\n"
    )


def test_a_detached_head_is_refused(repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.git.checkout("--detach")
    err = refused(repo, capsys, "bikes", "champion", "5", "--offline", "--commit")
    assert err.startswith("error: HEAD is detached")


def test_an_invalid_branch_name_is_refused(
    repo: git.Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(
        repo, capsys, "bikes", "champion", "5", "--offline", "--commit", "--branch", "a..b"
    )
    assert err.startswith("error: git failed: fatal: 'a..b' is not a valid branch name")


def test_commit_outside_a_git_repository_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(MANIFEST)
    assert (
        main(["promote", "bikes", "champion", "5", "-f", str(path), "--offline", "--commit"]) == 1
    )
    assert capsys.readouterr().err == f"error: {tmp_path} is not in a git repository\n"
    assert path.read_text() == MANIFEST


def test_promoting_to_the_current_version_is_refused(
    repo: git.Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(repo, capsys, "bikes", "champion", "3", "--offline")
    assert err == f"error: bikes@champion is already 3 in {manifest(repo)}\n"


def test_an_alias_name_mlflow_would_reject_is_refused(
    repo: git.Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(repo, capsys, "bikes", "latest", "5", "--offline")
    assert err == "error: alias 'latest' is reserved by MLflow\n"


def test_push_needs_commit(repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(repo, capsys, "bikes", "champion", "5", "--offline", "--push")
    assert err == "error: --branch and --push need --commit\n"


@pytest.fixture
def remote(repo: git.Repo, tmp_path: Path) -> git.Repo:
    """A bare repository as `origin`; its fetch URL looks like GitHub, pushes go to the bare one."""
    bare = git.Repo.init(tmp_path / "remote.git", bare=True)
    origin = repo.create_remote("origin", "https://github.com/acme/models.git")
    with origin.config_writer as config:
        config.set("pushurl", str(tmp_path / "remote.git"))
    return bare


def test_push_sends_the_branch_and_prints_the_pull_request_url(
    repo: git.Repo, remote: git.Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert promote(repo, "bikes", "champion", "5", "--offline", "--commit", "--push") == 0
    branch = "promote/bikes-champion-v5"
    assert remote.heads[branch].commit.hexsha == repo.head.commit.hexsha
    tracking = repo.active_branch.tracking_branch()
    assert tracking is not None and tracking.name == f"origin/{branch}"
    out = capsys.readouterr().out.splitlines()
    assert (
        out[-1] == f"open a pull request: https://github.com/acme/models/compare/{branch}?expand=1"
    )


def test_push_to_a_remote_outside_github_prints_no_url(
    repo: git.Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = git.Repo.init(tmp_path / "remote.git", bare=True)
    repo.create_remote("origin", str(tmp_path / "remote.git"))
    assert promote(repo, "bikes", "champion", "5", "--offline", "--commit", "--push") == 0
    assert "promote/bikes-champion-v5" in bare.heads
    assert "pull request" not in capsys.readouterr().out


def test_a_failed_push_is_one_clear_error(
    repo: git.Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.create_remote("origin", str(tmp_path / "gone.git"))
    assert promote(repo, "bikes", "champion", "5", "--offline", "--commit", "--push") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: push of 'promote/bikes-champion-v5' to 'origin' failed: fatal:")
    assert err.count("\n") == 1


def test_a_failed_push_says_what_was_committed_and_how_to_push_it_later(
    repo: git.Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    branch = "promote/bikes-champion-v5"
    repo.create_remote("origin", str(tmp_path / "remote.git"))  # not there yet
    assert promote(repo, "bikes", "champion", "5", "--offline", "--commit", "--push") == 1
    err = capsys.readouterr().err
    sha = repo.heads[branch].commit.hexsha
    assert f"the change is committed ({sha[:12]}) on the local branch '{branch}'" in err
    assert repo.active_branch.name == branch

    git.Repo.init(tmp_path / "remote.git", bare=True)  # the remote is back: the hint works
    recovery = err.split("push it with `")[1].split("`")[0]
    assert recovery == f"git push --set-upstream origin {branch}"
    repo.git.push(*recovery.split()[2:])
    assert git.Repo(tmp_path / "remote.git").heads[branch].commit.hexsha == sha


def test_an_unknown_remote_is_refused_before_anything_is_written(
    repo: git.Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("bikes", "champion", "5", "--offline", "--commit", "--push", "--remote", "upstream")
    err = refused(repo, capsys, *args)
    assert err == "error: no git remote named 'upstream'\n"


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/models.git",
        "https://github.com/acme/models",
        "https://x-access-token:secret@github.com/acme/models.git",
        "git@github.com:acme/models.git",
        "ssh://git@github.com/acme/models.git",
    ],
)
def test_github_remotes_give_a_compare_url(url: str) -> None:
    assert github_compare_url(url, "promote/b-c-v2") == (
        "https://github.com/acme/models/compare/promote/b-c-v2?expand=1"
    )


@pytest.mark.parametrize(
    "url", ["https://gitlab.com/acme/models.git", "/srv/git/models.git", "https://github.com/acme"]
)
def test_other_remotes_give_no_url(url: str) -> None:
    assert github_compare_url(url, "b") is None


@pytest.mark.server
def test_a_version_that_is_not_ready_is_refused(
    repo: git.Repo,
    mlflow_server: str,
    make_model: Callable[..., str],
    set_version_status: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = make_model("pending", versions=2)
    set_version_status(name, 2, "PENDING_REGISTRATION")
    commit_file(repo, "registry.yaml", MANIFEST.replace("bikes:", f"{name}:"), "use it")
    err = refused(repo, capsys, name, "champion", "2", "--tracking-uri", mlflow_server)
    assert err == f"error: version 2 of model {name!r} is PENDING_REGISTRATION, not READY\n"


@pytest.mark.server
def test_promote_checks_the_version_in_a_live_registry(
    repo: git.Repo,
    mlflow_server: str,
    make_model: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = make_model("bikes", versions=2)
    text = MANIFEST.replace("bikes:", f"{name}:")
    commit_file(repo, "registry.yaml", text, "use the test model")
    target = ("--tracking-uri", mlflow_server)

    err = refused(repo, capsys, name, "champion", "9", *target)
    assert err == f"error: version 9 of model {name!r} does not exist\n"
    err = refused(repo, capsys, "no-such-model", "champion", "1", *target)
    assert err == "error: no registered model named 'no-such-model' in the registry\n"

    assert promote(repo, name, "champion", "2", *target) == 0
    assert repo.git.diff("--numstat") == "1\t1\tregistry.yaml"


def test_an_unreachable_registry_is_refused_without_offline(
    repo: git.Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens there
    err = refused(repo, capsys, "bikes", "champion", "5", "--tracking-uri", closed)
    assert err == (
        f"error: cannot reach the MLflow registry at {closed}; "
        "pass --offline to skip the version check\n"
    )


def test_commit_branches_of_aliases_whose_names_clean_alike_never_collide(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "clash")
    text = (
        "version: 1\nmodels:\n"
        "  a:\n    aliases: {b-c: 1}\n  a-b:\n    aliases: {c: 1}\n"
        "  fraud model:\n    aliases: {champion: 1}\n  fraud-model:\n    aliases: {champion: 1}\n"
    )
    commit_file(repo, "registry.yaml", text, "declare")
    branches = {}
    for model, alias in (("a", "b-c"), ("a-b", "c"), ("fraud model", "champion"),
                         ("fraud-model", "champion")):  # fmt: skip
        assert promote(repo, model, alias, "2", "--offline", "--commit") == 0
        branches[(model, alias)] = repo.active_branch
        repo.heads.main.checkout()
    assert len({branch.name for branch in branches.values()}) == 4
    for (model, alias), branch in branches.items():
        assert str(branch.commit.message).startswith(f"promote {model}@{alias}: 1 -> 2\n")


@pytest.mark.server
def test_promote_latest_names_the_registry_it_read(
    repo: git.Repo,
    mlflow_server: str,
    make_model: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = make_model("bikes", versions=5)
    commit_file(repo, "registry.yaml", MANIFEST.replace("bikes:", f"{name}:"), "use it")
    capsys.readouterr()

    assert promote(repo, name, "champion", "latest", "--tracking-uri", mlflow_server) == 0

    captured = capsys.readouterr()
    assert captured.err.splitlines()[0] == f"Registry: {mlflow_server} (from --tracking-uri)"
    assert captured.out == f"{manifest(repo)}: {name}@champion 3 -> 5\n"


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        (("bikse", "champion"), "registry.yaml declares no model 'bikse'; did you mean 'bikes'?"),
        (
            ("bikes", "champoin"),
            "declares no alias 'champoin' for model 'bikes'; did you mean 'champion'?",
        ),
    ],
)
def test_a_mistyped_name_in_rollback_gets_a_suggestion(
    repo: git.Repo, capsys: pytest.CaptureFixture[str], typed: tuple[str, str], says: str
) -> None:
    before = manifest(repo).read_bytes()
    assert main(["rollback", *typed, "--to", "2", "-f", str(manifest(repo))]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.rstrip().endswith(says), err
    assert manifest(repo).read_bytes() == before
