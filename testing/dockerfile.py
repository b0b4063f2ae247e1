"""The Dockerfile read as data: its stages and their instructions, for the tests that check
it (tests/test_dockerfile.py) and the manifests that must agree with it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[1] / "Dockerfile"


@dataclass
class Stage:
    """One FROM and its instructions, as (INSTRUCTION, argument text) pairs."""

    base: str
    name: str | None
    steps: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [text for name, text in self.steps if name == instruction]

    def exec_form(self, instruction: str) -> list[str]:
        (text,) = self.all(instruction)
        parsed = json.loads(text)
        assert isinstance(parsed, list), f"{instruction} is not in exec form"
        return [str(word) for word in parsed]


def stages(text: str) -> list[Stage]:
    """The Dockerfile's stages: comments dropped, `\\` continuations joined."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw.strip())
        pending = ""
    found: list[Stage] = []
    for line in lines:
        instruction, _, argument = line.partition(" ")
        instruction, argument = instruction.upper(), " ".join(argument.split())
        if instruction == "FROM":
            base, _, name = argument.partition(" AS ")
            found.append(Stage(base=base, name=name or None))
        else:
            found[-1].steps.append((instruction, argument))
    return found


def read_stages(path: Path = DOCKERFILE) -> list[Stage]:
    """The stages of the repository's Dockerfile (or another one, for a test of the reader)."""
    return stages(path.read_text(encoding="utf-8"))


def env_pairs(argument: str) -> dict[str, str]:
    """`ENV A=1 B=2` (the form this Dockerfile uses)."""
    return dict(pair.split("=", 1) for pair in argument.split())
