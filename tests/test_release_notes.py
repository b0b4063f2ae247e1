"""scripts/release_notes.py: a tag's notes are its CHANGELOG section, and nothing else; and
`--version` is the version being released."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from scripts.release_notes import NoNotes, release_notes
from testing.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
CHANGELOG = """# Changelog

Intro text.

## [0.3.0] - 2027-01-05

### Added
- Three.

## [0.2.0] - 2026-12-03

### Added
- Two, with a [link](https://example.com).

### Fixed
- Two and a half.

## [0.1.0] - 2026-11-27

- One.

[0.2.0]: https://github.com/acme/mlflow-gitops/releases/tag/v0.2.0
"""


def test_the_notes_are_the_section_between_the_versions_heading_and_the_next() -> None:
    assert release_notes(CHANGELOG, "v0.2.0") == (
        "### Added\n- Two, with a [link](https://example.com).\n\n### Fixed\n- Two and a half.\n"
    )


def test_the_last_section_ends_before_the_link_definitions() -> None:
    assert release_notes(CHANGELOG, "refs/tags/v0.1.0") == "- One.\n"


def test_a_version_without_a_section_or_with_an_empty_one_has_no_notes() -> None:
    with pytest.raises(NoNotes, match=r"no section ## \[0\.4\.0\] for the tag v0\.4\.0"):
        release_notes(CHANGELOG, "v0.4.0")
    with pytest.raises(NoNotes, match="empty"):
        release_notes("## [1.0.0] - 2027-02-01\n\n## [0.9.0]\n- x\n", "v1.0.0")


def test_the_packages_version_has_notes_in_this_changelog() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    notes = release_notes((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), f"v{version}")
    assert notes.startswith("### ")


def test_the_script_prints_the_notes_or_one_line_and_exit_1(tmp_path: Path) -> None:
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text(CHANGELOG)
    script = ROOT / "scripts" / "release_notes.py"
    found = subprocess.run(
        [sys.executable, str(script), "v0.3.0", str(changelog)], capture_output=True, text=True
    )
    assert (found.returncode, found.stdout) == (0, "### Added\n- Three.\n")
    missing = subprocess.run(
        [sys.executable, str(script), "v7.0.0", str(changelog)], capture_output=True, text=True
    )
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1
    assert missing.stdout == ""


def test_version_is_the_installed_packages_metadata(tmp_path: Path) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = run_cli("--version", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, f"mlflow-gitops, version {version}\n")
