"""`update`: tracked aliases move forward to the newest matching version, as reviewable edits.

Against the real server and real git repositories, with a bare repository as `origin`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import git
import pytest

from controller.cli import main
from controller.state import AUDIT_TAG_PREFIX
from testing.cli import run_cli
from testing.repos import commit_file, make_repo, work_tree

pytestmark = pytest.mark.server
AUDIT_CHALLENGER = AUDIT_TAG_PREFIX + "challenger"

if TYPE_CHECKING:
    from mlflow import MlflowClient


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


@dataclass
class Tracking:
    """A working repository whose `origin` is a bare repository, and the real server."""

    repo: git.Repo
    server: str
    client: MlflowClient
    make_model: Callable[..., str]
    capsys: pytest.CaptureFixture[str]

    @property
    def manifest(self) -> Path:
        return work_tree(self.repo) / "registry.yaml"

    @property
    def origin(self) -> git.Repo:
        return git.Repo(self.repo.remotes.origin.url)

    def model(self, versions: int, approved: tuple[int, ...] = ()) -> str:
        """A new registered model; `approved` versions get validation_status=approved."""
        name = self.make_model("track", versions)
        for version in approved:
            self.client.set_model_version_tag(name, str(version), "validation_status", "approved")
        return name

    def new_version(self, model: str) -> int:
        return int(self.client.create_model_version(model, source=f"s3://x/{model}").version)

    def declare(self, model: str, champion: int, challenger: int) -> None:
        text = manifest_text(model, champion, challenger)
        commit_file(self.repo, "registry.yaml", text, "declare")
        self.repo.git.push("origin", "main")

    def run(self, *args: str) -> int:
        """The CLI in process, on this manifest and server."""
        self.capsys.readouterr()
        return main([*args, "-f", str(self.manifest), "--tracking-uri", self.server])

    def update(self, *args: str, repo: git.Repo | None = None) -> list[dict[str, object]]:
        """`update --format json`; its tracked aliases."""
        path = work_tree(repo or self.repo) / "registry.yaml"
        self.capsys.readouterr()
        code = main(["update", *args, "-f", str(path), "--tracking-uri", self.server,
                     "--format", "json"])  # fmt: skip
        captured = self.capsys.readouterr()
        assert code == 0, captured.err
        return json.loads(captured.out)["tracked"]


@pytest.fixture
def track(
    tmp_path: Path,
    mlflow_server: str,
    server_client: MlflowClient,
    make_model: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> Tracking:
    repo = make_repo(tmp_path / "work")
    bare = tmp_path / "origin.git"
    git.Repo.init(bare, bare=True, initial_branch="main")
    repo.create_remote("origin", str(bare))
    return Tracking(repo, mlflow_server, server_client, make_model, capsys)


def decisions(tracked: list[dict[str, object]]) -> dict[str, tuple[object, object, object]]:
    return {str(x["alias"]): (x["declared"], x["candidate"], x["decision"]) for x in tracked}


def test_latest_and_tag_policies_edit_one_line_each(track: Tracking) -> None:
    model = track.model(5, approved=(3,))
    track.declare(model, champion=2, challenger=4)

    tracked = track.update()

    assert decisions(tracked) == {"challenger": (4, 5, "bump"), "champion": (2, 3, "bump")}
    assert track.manifest.read_text() == manifest_text(model, champion=3, challenger=5)
    assert track.repo.git.diff("--numstat") == "2\t2\tregistry.yaml"
    assert track.repo.active_branch.name == "main"
    assert track.repo.head.commit.summary == "declare"


def test_update_names_the_registry_it_read(track: Tracking) -> None:
    model = track.model(3)
    track.declare(model, champion=1, challenger=2)

    assert track.run("update") == 0

    err = track.capsys.readouterr().err
    assert err.splitlines()[0] == f"Registry: {track.server} (from --tracking-uri)"


def test_a_version_registered_after_a_run_is_picked_up_by_the_next(track: Tracking) -> None:
    model = track.model(2, approved=(1,))
    track.declare(model, champion=1, challenger=2)

    assert decisions(track.update("--commit")) == {
        "challenger": (2, 2, "up-to-date"),
        "champion": (1, 1, "up-to-date"),
    }
    assert {head.name for head in track.repo.heads} == {"main"}
    assert track.repo.git.status("--porcelain") == ""

    version = track.new_version(model)  # 3, not approved: champion stays
    assert decisions(track.update("--commit")) == {
        "challenger": (2, version, "bump"),
        "champion": (1, 1, "up-to-date"),
    }
    assert f"update/{model}-challenger-v{version}" in track.repo.heads


def test_tracking_never_moves_an_alias_back(
    track: Tracking, set_version_status: Callable[..., None]
) -> None:
    model = track.model(3, approved=(1,))
    set_version_status(model, 3, "FAILED_REGISTRATION")  # newest, not READY
    track.declare(model, champion=2, challenger=3)  # champion 2 was set by hand: not approved
    before = track.manifest.read_bytes()

    tracked = track.update()

    assert decisions(tracked) == {"challenger": (3, 2, "hold"), "champion": (2, 1, "hold")}
    assert {x["reason"] for x in tracked} == {
        "declared 3 is newer than 2; tracking never moves back",
        "declared 2 is newer than 1; tracking never moves back",
    }
    assert track.manifest.read_bytes() == before


def test_each_bump_gets_its_own_branch_and_commit_from_the_start_branch(track: Tracking) -> None:
    model = track.model(4, approved=(3,))
    track.declare(model, champion=1, challenger=2)
    base = track.repo.head.commit

    tracked = track.update("--commit", "--push")

    assert track.repo.active_branch.name == "main"
    assert track.repo.head.commit == base
    assert track.manifest.read_text() == manifest_text(model, champion=1, challenger=2)
    bare = track.origin
    for alias, (old, new) in {"challenger": (2, 4), "champion": (1, 3)}.items():
        branch = f"update/{model}-{alias}-v{new}"
        (result,) = [x for x in tracked if x["alias"] == alias]
        assert result["branch"] == branch
        commit = track.repo.heads[branch].commit
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
    track: Tracking, tmp_path: Path
) -> None:
    model = track.model(3, approved=(1,))
    track.declare(model, champion=1, challenger=2)
    first = track.update(model, "challenger", "--commit", "--push")
    branch = f"update/{model}-challenger-v3"
    assert decisions(first) == {"challenger": (2, 3, "bump")}

    # A fresh clone, as the scheduled workflow has: the branch exists only on the remote.
    clone = git.Repo.clone_from(track.repo.remotes.origin.url, tmp_path / "clone")
    again = track.update(model, "challenger", "--commit", "--push", repo=clone)
    assert decisions(again) == {"challenger": (2, 3, "branch-exists")}
    assert again[0]["reason"] == f"branch {branch} already holds this bump"
    assert {head.name for head in clone.heads} == {"main"}

    version = track.new_version(model)
    newer = track.update(model, "challenger", "--commit", "--push", repo=clone)
    assert decisions(newer) == {"challenger": (2, version, "bump")}
    assert newer[0]["branch"] == f"update/{model}-challenger-v{version}"
    assert newer[0]["supersedes"] == [branch]
    assert branch in track.origin.heads  # left for its PR to be closed


def test_the_request_count_does_not_grow_with_tracked_aliases(
    track: Tracking, rest_calls: list[tuple[str, str]]
) -> None:
    models = [track.model(2) for _ in range(3)]
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
        track.manifest.write_text(text)
        rest_calls.clear()
        tracked = track.update()
        assert {x["decision"] for x in tracked} == {"bump"}
        counts.append(list(rest_calls))
    assert counts[0] == counts[1] == [("GET", "/api/2.0/mlflow/model-versions/search")]


def test_naming_an_untracked_alias_is_one_error_line(track: Tracking) -> None:
    track.declare("bikes", champion=1, challenger=2)
    assert track.run("update", "bikes", "shadow") == 1
    assert track.capsys.readouterr().err == (
        f"error: {track.manifest} does not track bikes@shadow (see track:)\n"
    )


def test_the_cli_reports_each_alias_and_where_its_bump_went(track: Tracking) -> None:
    model = track.model(3)
    track.declare(model, champion=1, challenger=2)
    path = track.manifest
    result = run_cli(
        "update", "-f", str(path), "--tracking-uri", track.server, "--commit", cwd=path.parent
    )
    assert result.returncode == 0, result.stderr
    sha = track.repo.heads[f"update/{model}-challenger-v3"].commit.hexsha
    assert result.stdout == (
        f"~ {model}@challenger: 2 -> 3 (newer version 3)\n"
        f"    committed {sha[:7]} on branch update/{model}-challenger-v3\n"
        f"  {model}@champion: 1 (no READY version with validation_status=approved)\n"
        f"\n{path}: 1 of 2 tracked aliases committed.\n"
    )


def test_promote_latest_is_the_one_off_lookup_under_the_alias_policy(track: Tracking) -> None:
    model = track.model(4, approved=(2,))
    track.declare(model, champion=1, challenger=2)
    path = track.manifest

    assert track.run("promote", model, "champion", "latest") == 0  # approved: 2, not 4
    out = track.capsys.readouterr().out
    assert track.run("promote", model, "shadow", "latest") == 0  # untracked: the newest READY
    assert out + track.capsys.readouterr().out == (
        f"{path}: {model}@champion 1 -> 2\n{path}: {model}@shadow none -> 4\n"
    )
    assert path.read_text() == manifest_text(model, 2, 2).replace(
        "      challenger: 2\n", "      challenger: 2\n      shadow: 4\n"
    )

    assert track.run("promote", model, "champion", "latest", "--offline") == 1
    assert track.capsys.readouterr().err == (
        "error: `latest` is looked up in the registry; name a version with --offline\n"
    )


def test_promote_latest_with_no_matching_version_is_refused(track: Tracking) -> None:
    model = track.model(2)
    track.declare(model, champion=1, challenger=2)
    before = track.manifest.read_bytes()
    assert track.run("promote", model, "champion", "latest") == 1
    assert track.capsys.readouterr().err == (
        f"error: no READY version with validation_status=approved of model {model!r} "
        "in the registry\n"
    )
    assert track.manifest.read_bytes() == before


def test_a_bump_branch_that_was_never_pushed_is_named_not_recommitted(track: Tracking) -> None:
    model = track.model(3)
    track.declare(model, champion=1, challenger=2)
    track.update(model, "challenger", "--commit")
    branch = f"update/{model}-challenger-v3"
    commit = track.repo.heads[branch].commit

    (pushing,) = track.update(model, "challenger", "--commit", "--push")

    assert pushing["decision"] == "branch-exists"
    assert pushing["reason"] == (
        f"branch {branch} already holds this bump, but only here: "
        f"push it with git push -u origin {branch}"
    )
    assert track.repo.heads[branch].commit == commit
    assert branch not in track.origin.heads


def test_a_candidate_failing_its_gate_is_skipped_and_the_output_says_why(
    track: Tracking,
) -> None:
    model = track.model(3)
    text = manifest_text(model, champion=1, challenger=2).replace(
        "version: 1\n",
        "version: 1\ngates:\n  challenger:\n    require_tags: {validation_status: approved}\n",
    )
    commit_file(track.repo, "registry.yaml", text, "declare with a gate")

    tracked = track.update()

    assert decisions(tracked)["challenger"] == (2, 3, "gated")
    (challenger,) = [x for x in tracked if x["alias"] == "challenger"]
    assert "validation_status" in str(challenger["reason"])
    assert track.manifest.read_text() == text  # nothing edited

    track.client.set_model_version_tag(model, "3", "validation_status", "approved")
    assert decisions(track.update())["challenger"] == (2, 3, "bump")
    assert "challenger: 3" in track.manifest.read_text()


def test_bumps_of_models_whose_names_clean_alike_get_their_own_branches(
    track: Tracking,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    names = (f"fraud model{suffix}", f"fraud-model{suffix}")
    for name in names:
        track.client.create_registered_model(name)
        for _ in range(2):
            track.client.create_model_version(name, source=f"s3://x/{suffix}")
    blocks = "".join(
        f"  {name}:\n    aliases: {{challenger: 1}}\n    track: {{challenger: latest}}\n"
        for name in names
    )
    commit_file(track.repo, "registry.yaml", f"version: 1\nmodels:\n{blocks}", "declare")

    tracked = track.update("--commit")

    assert [(x["model"], x["decision"]) for x in tracked] == [(n, "bump") for n in names]
    branches = [str(x["branch"]) for x in tracked]
    assert len(set(branches)) == 2
    for name, branch in zip(names, branches, strict=True):
        assert str(track.repo.heads[branch].commit.message).startswith(
            f"update {name}@challenger: 1 -> 2\n"
        )


def history(track: Tracking, model: str) -> list[tuple[int | None, int | None, bool]]:
    """`history MODEL challenger --format json`: (from, to, holds), newest first."""
    track.capsys.readouterr()
    path = str(track.manifest)
    assert main(["history", model, "challenger", "-f", path, "--format", "json"]) == 0
    return [(e["from"], e["to"], e["holds"]) for e in json.loads(track.capsys.readouterr().out)]


def test_a_rolled_back_alias_is_held_until_a_newer_version_or_a_forward_move(
    track: Tracking,
) -> None:
    model = track.model(4, approved=(1,))
    track.declare(model, champion=1, challenger=4)
    track.declare(model, champion=1, challenger=3)  # 4 was bad: moved back by a commit
    rolled_back = track.repo.head.commit.hexsha[:7]
    before = track.manifest.read_bytes()

    held = f"held: rolled back from 4 in {rolled_back}; waiting for a version newer than 4"
    tracked = track.update()
    assert decisions(tracked)["challenger"] == (3, 4, "hold")
    assert [x["reason"] for x in tracked if x["alias"] == "challenger"] == [held]
    assert track.manifest.read_bytes() == before
    assert track.run("update") == 0
    assert f"  {model}@challenger: 3 ({held})" in track.capsys.readouterr().out

    assert history(track, model) == [(4, 3, True), (None, 4, False)]
    assert main(["history", model, "challenger", "-f", str(track.manifest)]) == 0
    newest = track.capsys.readouterr().out.splitlines()[0].split()
    assert newest[-6:] == ["4", "->", "3", "rollback", "(held)", "declare"]

    version = track.new_version(model)  # 5: newer than the one rolled back from
    assert decisions(track.update())["challenger"] == (3, version, "bump")

    track.declare(model, champion=1, challenger=4)  # a person promotes 4 again: no hold
    assert history(track, model)[0] == (3, 4, False)
    assert decisions(track.update())["challenger"] == (4, version, "bump")


def test_a_tracked_champion_is_not_bumped_before_its_soak_and_is_after(
    track: Tracking, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = track.model(2, approved=(2,))
    text = manifest_text(model, champion=1, challenger=2).replace(
        "    track:\n",
        "    gates:\n      champion:\n        promotes_from: {alias: challenger, soak: 24h}\n"
        "    track:\n",
    )
    commit_file(track.repo, "registry.yaml", text, "challenger 2")
    track.client.set_registered_model_alias(model, "champion", "1")  # serving before adoption
    assert track.run("apply", "--auto-approve") == 0
    record = json.loads(track.client.get_model_version(model, "2").tags[AUDIT_CHALLENGER])
    applied = datetime.fromisoformat(record["applied_at"].replace("Z", "+00:00"))

    monkeypatch.setenv("MLFLOW_GITOPS_NOW", f"{applied + timedelta(hours=5):%Y-%m-%dT%H:%M:%SZ}")
    (champion,) = [x for x in track.update() if x["alias"] == "champion"]
    assert (champion["decision"], champion["candidate"]) == ("gated", 2)
    assert "held challenger for 5h, needs 24h" in str(champion["reason"])

    monkeypatch.setenv("MLFLOW_GITOPS_NOW", f"{applied + timedelta(hours=25):%Y-%m-%dT%H:%M:%SZ}")
    assert decisions(track.update())["champion"] == (1, 2, "bump")
    assert "champion: 2" in track.manifest.read_text()
