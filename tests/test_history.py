"""`history` reads every alias change back from git: kinds, renames, unparsable commits."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from controller import api
from controller import history as history_module
from controller.cli import main
from controller.errors import ManifestError
from controller.history import _RevisionReader, alias_changes, rollback_lane
from controller.manifest import CopyFrom, parse_manifest
from controller.render.text import history as history_text
from controller.values import CommitInfo, Revision
from testing.repos import commit_file, make_repo, rename_file

JSON_KEYS = {
    "commit", "date", "author", "model", "alias", "from", "to", "kind", "subject", "holds",
    "from_copy", "to_copy",
}  # fmt: skip


def manifest(**aliases: int | None) -> str:
    lines = [f"      {alias}: {'null' if v is None else v}\n" for alias, v in aliases.items()]
    return "version: 1\nmodels:\n  bikes:\n    aliases:\n" + "".join(lines)


def revision(n: int, text: str | None, subject: str = "edit") -> Revision:
    commit = CommitInfo(f"{n:040d}", f"2024-01-0{n}T10:00:00+00:00", "Ann", subject)
    return Revision(commit, "registry.yaml", text)


def test_changes_are_listed_newest_first_with_their_kind() -> None:
    revisions = [
        revision(5, manifest(champion=2, challenger=None)),
        revision(4, manifest(champion=2, challenger=4)),
        revision(3, manifest(champion=2), "rollback bikes@champion: 1 -> 2"),
        revision(2, manifest(champion=1)),
        revision(1, manifest(champion=2)),
    ]
    entries, warnings = alias_changes(revisions)
    assert warnings == []
    assert [(e.commit.sha[-1], e.alias, e.from_version, e.to_version, e.kind) for e in entries] == [
        ("5", "challenger", 4, None, "removed"),
        ("4", "challenger", None, 4, "assign"),
        ("3", "champion", 1, 2, "rollback"),
        ("2", "champion", 2, 1, "rollback"),
        ("1", "champion", None, 2, "assign"),
    ]


def test_a_higher_version_is_a_promote() -> None:
    entries, _ = alias_changes(
        [revision(2, manifest(champion=3)), revision(1, manifest(champion=2))]
    )
    assert entries[0].kind == "promote"


def test_removing_a_model_removes_each_of_its_aliases() -> None:
    empty = "version: 1\nmodels: {}\n"
    entries, _ = alias_changes(
        [revision(2, empty), revision(1, manifest(champion=1, challenger=2))]
    )
    assert [(e.alias, e.kind) for e in entries[:2]] == [
        ("challenger", "removed"),
        ("champion", "removed"),
    ]


def test_an_unparsable_commit_is_skipped_with_a_warning() -> None:
    revisions = [
        revision(3, manifest(champion=3)),
        revision(2, "version: 1\nmodels: [unclosed\n"),
        revision(1, manifest(champion=1)),
    ]
    entries, warnings = alias_changes(revisions)
    assert [(e.commit.sha[-1], e.from_version, e.to_version) for e in entries] == [
        ("3", 1, 3),
        ("1", None, 1),
    ]
    assert len(warnings) == 1
    assert warnings[0].startswith("skipping commit 0000000: registry.yaml did not parse (")


def test_a_commit_that_deletes_the_manifest_is_skipped_with_a_warning() -> None:
    entries, warnings = alias_changes([revision(2, None), revision(1, manifest(champion=1))])
    assert len(entries) == 1
    assert warnings == ["skipping commit 0000000: it deletes registry.yaml"]


def test_text_output_has_one_aligned_line_per_change() -> None:
    entries, _ = alias_changes(
        [
            revision(2, manifest(champion=3), "promote bikes@champion: 1 -> 3"),
            revision(1, manifest(champion=1)),
        ]
    )
    assert history_text(entries).splitlines() == [
        "2024-01-02 10:00  0000000  Ann  bikes@champion  1 -> 3     promote  "
        "promote bikes@champion: 1 -> 3",
        "2024-01-01 10:00  0000000  Ann  bikes@champion  none -> 1  assign   edit",
    ]


@pytest.fixture
def renamed_history(tmp_path: Path) -> Path:
    """champion 1 -> 2, a broken commit, the file moved to deploy/, then champion 2 -> 3."""
    repo = make_repo(tmp_path)
    commit_file(repo, "registry.yaml", manifest(champion=1), "declare bikes")
    commit_file(repo, "README.md", "unrelated\n", "docs")
    commit_file(repo, "registry.yaml", manifest(champion=2), "promote bikes@champion: 1 -> 2")
    commit_file(repo, "registry.yaml", "version: 1\nmodels: [\n", "oops")
    commit_file(repo, "registry.yaml", manifest(champion=2, challenger=5), "fix and add challenger")
    rename_file(repo, "registry.yaml", "deploy/registry.yaml", "move the manifest")
    commit_file(repo, "deploy/registry.yaml", manifest(champion=3, challenger=5), "bump")
    return tmp_path / "deploy" / "registry.yaml"


def test_history_follows_the_manifest_across_a_rename(renamed_history: Path) -> None:
    entries, warnings = api.history(str(renamed_history))
    assert [(e.alias, e.from_version, e.to_version, e.commit.subject) for e in entries] == [
        ("champion", 2, 3, "bump"),
        ("challenger", None, 5, "fix and add challenger"),
        ("champion", 1, 2, "promote bikes@champion: 1 -> 2"),
        ("champion", None, 1, "declare bikes"),
    ]
    assert len(warnings) == 1
    assert "registry.yaml did not parse" in warnings[0]


def test_history_json_has_exactly_the_documented_keys(
    renamed_history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["history", "bikes", "champion", "-f", str(renamed_history), "--format", "json"])
    captured = capsys.readouterr()
    entries = json.loads(captured.out)
    assert code == 0
    assert [set(e) for e in entries] == [JSON_KEYS] * 3
    assert [(e["from"], e["to"], e["kind"]) for e in entries] == [
        (2, 3, "promote"),
        (1, 2, "promote"),
        (None, 1, "assign"),
    ]
    assert entries[0]["author"] == "Ann Example"
    assert len(entries[0]["commit"]) == 40
    assert "warning: skipping commit" in captured.err


def test_history_limit_and_filters(
    renamed_history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "bikes", "challenger", "-f", str(renamed_history), "--limit", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert "bikes@challenger  none -> 5  assign" in lines[0]


def test_merged_branches_appear_once_each_as_their_merge_commit(tmp_path: Path) -> None:
    """Two branches made in parallel: a date-ordered walk would see bikes go 1 -> 2 -> 1 -> 2."""
    two_models = "version: 1\nmodels:\n  bikes:\n    aliases:\n      champion: {}\n" + (
        "  cars:\n    aliases:\n      champion: {}\n"
    )
    repo = make_repo(tmp_path)
    commit_file(repo, "registry.yaml", two_models.format(1, 1), "declare")
    repo.git.checkout("-b", "cars")
    commit_file(repo, "registry.yaml", two_models.format(1, 7), "promote cars")
    repo.git.checkout("-b", "bikes", "main")
    commit_file(repo, "registry.yaml", two_models.format(2, 1), "promote bikes")
    repo.git.checkout("main")
    repo.git.merge("--no-ff", "-m", "merge bikes", "bikes")
    repo.git.merge("--no-ff", "-m", "merge cars", "cars")

    entries, _ = api.history(str(tmp_path / "registry.yaml"))
    assert [(e.model, e.from_version, e.to_version, e.commit.subject) for e in entries] == [
        ("cars", 1, 7, "merge cars"),
        ("bikes", 1, 2, "merge bikes"),
        ("bikes", None, 1, "declare"),
        ("cars", None, 1, "declare"),
    ]


def test_history_outside_a_git_repository_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "registry.yaml").write_text(manifest(champion=1))
    assert main(["history", "-f", str(tmp_path / "registry.yaml")]) == 1
    assert capsys.readouterr().err == f"error: {tmp_path} is not in a git repository\n"


def full_parse(text: str) -> dict[str, dict[str, int | CopyFrom | None]]:
    models = parse_manifest(text, "registry.yaml").manifest.models
    return {name: dict(spec.aliases) for name, spec in models.items()}


BASE = (
    "# models we serve\n"
    "version: 1\n"
    "models:\n"
    "  bikes:\n"
    "    aliases:\n"
    "      champion: 3   # serving\n"
    "      challenger:\n"
    "        4\n"
    "      shadow: null\n"
    '  "cars":\n'
    "    aliases: {champion: 1, canary: 2}\n"
    "  boats:\n"
    "    prune: true\n"
    "    aliases:\n"
    "      champion: 7\n"
)

EDITS = [
    ("champion: 3   # serving", "champion: 12   # serving"),  # in place: patched
    ("champion: 3   # serving", "champion: null   # serving"),  # to null: patched
    ("        4", "        5"),  # value on its own line: patched
    ("shadow: null", "shadow: 6"),  # from null: patched
    ("champion: 7", "champion: 8"),  # patched
    ("champion: 3   # serving", "champion: 3   # retired"),  # comment: full parse
    ("champion: 3   # serving", "champion: 3#x"),  # not a comment: a string, invalid
    ("{champion: 1, canary: 2}", "{champion: 5, canary: 2}"),  # flow style: full parse
    ("champion: 7", "champion: 7\n      extra: 1"),  # a new line: full parse
    ("shadow: null", "shadow: ~"),  # another spelling of null: full parse
    ("champion: 7", "Champion: 7"),  # a key: full parse
    ("champion: 7", 'champion: "7"'),  # quoted: invalid
    ("version: 1", "version: 1 # v"),  # not an alias line: full parse
]


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_incremental_reading_matches_a_full_parse_of_every_revision(line_end: str) -> None:
    """Thousands of random edit sequences: patched or parsed, the answer is the full parse's."""
    rng = random.Random(1234)
    for _ in range(300):
        reader = _RevisionReader()
        text = BASE
        for _ in range(6):
            # An edit or its reverse, so that every edit is reachable from every state.
            old, new = rng.choice(EDITS)[:: rng.choice((1, -1))]
            text = text.replace(old, new, 1)
            revision_text = text.replace("\n", line_end)
            try:
                expected = full_parse(revision_text)
            except ManifestError:
                with pytest.raises(ManifestError):
                    reader.declared(revision_text, "registry.yaml")
                reader = _RevisionReader()  # as alias_changes keeps the last good revision
                continue
            assert reader.declared(revision_text, "registry.yaml") == expected, revision_text


def test_a_one_value_promotion_is_read_without_a_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    reader = _RevisionReader()
    reader.declared(BASE, "registry.yaml")
    monkeypatch.setattr(
        history_module, "parse_manifest", lambda *a, **k: pytest.fail("parsed in full")
    )
    promoted = BASE.replace("champion: 3 ", "champion: 4 ")
    assert reader.declared(promoted, "registry.yaml")["bikes"]["champion"] == 4


def test_an_in_place_edit_to_a_huge_version_is_parsed_in_full_and_skipped() -> None:
    """The patch path accepts only what the loader does: 5,000 digits is no version."""
    revisions = [
        revision(2, manifest(champion=1).replace("champion: 1", "champion: " + "9" * 5000)),
        revision(1, manifest(champion=1)),
    ]
    entries, warnings = alias_changes(revisions)
    assert [(e.from_version, e.to_version) for e in entries] == [(None, 1)]
    assert len(warnings) == 1 and "is too large to be a version" in warnings[0]


def test_the_latest_backwards_move_holds_until_a_forward_move() -> None:
    held = [
        revision(3, manifest(champion=3, challenger=5)),
        revision(2, manifest(champion=3, challenger=4)),
        revision(1, manifest(champion=4, challenger=4)),
    ]
    entries, _ = alias_changes(held)
    assert [(e.commit.sha[-1], e.alias, e.holds) for e in entries] == [
        ("3", "challenger", False),
        ("2", "champion", True),
        ("1", "challenger", False),
        ("1", "champion", False),
    ]
    released, _ = alias_changes([revision(4, manifest(champion=5, challenger=5)), *held])
    assert not any(e.holds for e in released)


def test_a_rollback_lane_needs_the_version_declared_then_moved_off() -> None:
    entries, _ = alias_changes(
        [
            revision(3, manifest(champion=1), "rollback"),
            revision(2, manifest(champion=2)),
            revision(1, manifest(champion=1)),
        ]
    )
    lane = rollback_lane(entries, "bikes", "champion", 1)
    assert lane is not None
    assert (lane.served_until, lane.commit) == ("2024-01-02T10:00:00+00:00", f"{3:040d}")
    assert rollback_lane(entries, "bikes", "champion", 3) is None  # never declared
    assert rollback_lane(entries, "bikes", "challenger", 1) is None  # another alias
    # Still on 1 in the last commit, moved off only in the working tree: no commit to time.
    uncommitted = rollback_lane(entries[1:], "bikes", "champion", 1)
    assert uncommitted is not None and uncommitted.commit is None
