"""The release notes of a tag: its section of CHANGELOG.md, for the GitHub release's body.

`python scripts/release_notes.py v0.2.0 [CHANGELOG.md]` prints the body of `## [0.2.0]`
(without its heading) and exits 0; a tag the changelog has no section for, or an empty one,
is one line on stderr and exit 1, so the release workflow stops before publishing anything.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# `## [0.2.0] - 2026-12-03` or `## [0.2.0]`: Keep a Changelog's version headings.
_HEADING = re.compile(r"^## \[(?P<version>[^\]]+)\]", re.MULTILINE)


class NoNotes(Exception):
    """The changelog says nothing about this version."""


def version_of(tag: str) -> str:
    """`v0.2.0` -> `0.2.0`: tags carry a `v`, changelog headings do not."""
    return tag.removeprefix("refs/tags/").removeprefix("v")


def release_notes(changelog: str, tag: str) -> str:
    """The text under the version's heading, up to the next version's; stripped."""
    version = version_of(tag)
    headings = list(_HEADING.finditer(changelog))
    for number, heading in enumerate(headings):
        if heading["version"] == version:
            end = headings[number + 1].start() if number + 1 < len(headings) else len(changelog)
            # The heading's line ends with its date; the notes start on the next line.
            notes = changelog[heading.end() : end].partition("\n")[2].strip()
            # Link reference definitions at the file's end belong to no section.
            notes = re.sub(r"(?m)^\[[^\]]+\]: \S+\s*$", "", notes).strip()
            if not notes:
                raise NoNotes(f"the section of {version} in the changelog is empty")
            return notes + "\n"
    raise NoNotes(f"the changelog has no section ## [{version}] for the tag {tag}")


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        sys.stderr.write("usage: release_notes.py TAG [CHANGELOG.md]\n")
        return 1
    path = Path(argv[1] if len(argv) == 2 else "CHANGELOG.md")
    try:
        sys.stdout.write(release_notes(path.read_text(encoding="utf-8"), argv[0]))
    except (NoNotes, OSError) as exc:
        sys.stderr.write(f"error: {path}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
