"""A registry in dicts behind apply's `RegistryWriter` protocol, for the branches a real server
cannot be made to take on demand (a write that fails, a reply that is lost, an interruption)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from controller.errors import ModelNotFound, RegistryError, RegistryUnreachable
from controller.state import LastApplied, LiveModel, LiveState


@dataclass
class MemoryRegistry:
    """Aliases, versions and tags in dicts; each `fail_*` makes that call raise."""

    aliases: dict[str, dict[str, int]]
    versions: int = 5
    max_parallel_writes: int = 1
    owner_in_record: bool = False
    last_applied: dict[str, LastApplied] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    version_tags: dict[tuple[str, int, str], str] = field(default_factory=dict)
    unreachable_after_writes: int | None = None
    fail_read: bool = False
    overwrite_with: int | None = None  # a concurrent writer sets every written alias to this
    fail_last_applied: bool = False
    fail_tags: bool = False
    writes: int = 0
    reads: list[list[str]] = field(default_factory=list)  # the names of each read_state

    def read_state(self, names: Iterable[str]) -> LiveState:
        names = list(names)
        self.reads.append(sorted(names))
        if self.fail_read:
            raise RegistryUnreachable("cannot reach the MLflow registry at memory://")
        return LiveState(
            models={
                name: LiveModel(
                    name=name,
                    aliases=dict(self.aliases[name]),
                    versions={v: "READY" for v in range(1, self.versions + 1)},
                    last_applied=self.last_applied.get(name),
                    owner=self.owners.get(name),
                )
                for name in names
                if name in self.aliases
            }
        )

    def _write(self) -> None:
        if (
            self.unreachable_after_writes is not None
            and self.writes >= self.unreachable_after_writes
        ):
            raise RegistryUnreachable("cannot reach the MLflow registry at memory://")
        self.writes += 1

    def set_alias(self, model: str, alias: str, version: int) -> None:
        self._write()
        if model not in self.aliases:
            raise ModelNotFound(f"registered model {model!r} does not exist")
        self.aliases[model][alias] = self.overwrite_with or version

    def delete_alias(self, model: str, alias: str) -> None:
        self._write()
        del self.aliases[model][alias]

    def write_last_applied(self, model: str, last_applied: LastApplied) -> None:
        if self.fail_last_applied:
            raise RegistryError("MLflow registry at memory://: tag rejected")
        self.last_applied[model] = last_applied

    def tag_version(self, model: str, version: int, key: str, value: str) -> None:
        if self.fail_tags:
            raise RegistryError("MLflow registry at memory://: tag rejected")
        self.version_tags[(model, version, key)] = value

    def write_owner(self, model: str, owner: str) -> None:
        self.owners[model] = owner

    def forget(self, model: str) -> None:
        self.owners.pop(model, None)
        self.last_applied.pop(model, None)
