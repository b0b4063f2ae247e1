"""One base exception: every expected failure subclasses it, and the CLI catches it once.

Anything else that reaches the entry point is a bug, reported as such.
"""

from __future__ import annotations

from controller.values import Problem


class GitopsError(Exception):
    """An expected failure; its message is already one line, redacted and fit to print."""

    def lines(self) -> list[str]:
        return [f"error: {self}"]


class ManifestError(GitopsError):
    """The manifest could not be loaded; carries every problem found, each with its place."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class RegistryError(GitopsError):
    """A registry call failed."""


class RegistryUnreachable(RegistryError):
    """No answer from the registry: further writes would fail the same way."""


class CopyError(RegistryError):
    """A copy could not be made, or did not verify against its source: its alias stays."""


class RegistryPermissionDenied(RegistryError):
    """The registry refused these credentials."""


class ModelNotFound(RegistryError):
    """A registered model the command names does not exist."""


class TargetConflict(GitopsError):
    """The manifest and the environment name different registries, and no flag chose one."""


class ApplyRefused(GitopsError):
    """Apply will not run here as asked (an uncommitted manifest in CI)."""


class PlanFileError(GitopsError):
    """A saved plan file is missing or not a plan."""


class StalePlanError(GitopsError):
    """The registry moved since a saved plan was made; applying it would clobber someone."""


class PromotionError(GitopsError):
    """A promotion or rollback was refused; the manifest was left as it was."""


class UpdateError(GitopsError):
    """`update` was asked for an alias the manifest does not track; nothing was read or written."""


class EditError(GitopsError):
    """The manifest's shape does not allow the edit; the file is left as it was."""


class GitError(GitopsError):
    """A git step failed or was refused."""


class ServingError(GitopsError):
    """The model cannot be served: not MODEL@ALIAS, no such alias, or its first load failed."""


class UsageError(GitopsError):
    """The command line asks for something contradictory."""
