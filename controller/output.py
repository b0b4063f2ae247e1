"""All terminal output goes through here, so nothing prints a secret by accident."""

from __future__ import annotations

import sys

from controller.uris import redact


def out(text: str) -> None:
    """Write a result to stdout (redacted)."""
    sys.stdout.write(redact(text).rstrip("\n") + "\n")


def err(text: str) -> None:
    """Write a diagnostic to stderr (redacted)."""
    sys.stderr.write(redact(text).rstrip("\n") + "\n")
