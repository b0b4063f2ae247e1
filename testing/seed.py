"""Fill a SQLite MLflow store directly, for a server started on it afterwards.

Seeding over REST costs a round trip per call (minutes at 1,000 models); the registry's own
SQL store writes the same rows, with the same validation, in a fraction of that.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.state import LAST_APPLIED_TAG, LastApplied

VERSIONS = 3
# alias -> version every seeded model starts with; the benchmarks move some of them.
ALIASES = {"champion": 2, "challenger": 3}


@dataclass(frozen=True)
class SeededRegistry:
    """What `seed_registry` wrote: the store's file and the models' names, in order."""

    database: Path
    names: list[str]


def model_names(count: int) -> list[str]:
    return [f"bench-{i:05d}" for i in range(count)]


def seed_registry(database: Path, count: int) -> SeededRegistry:
    """`count` models x 3 versions x 2 aliases, each with the last-applied tag this tool writes.

    The tag makes every model one the tool already manages, so a plan or an apply measures the
    steady state (a first apply would also write a tag on every model).
    """
    from mlflow.entities.model_registry import RegisteredModelTag
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    logging.getLogger("alembic").setLevel(logging.WARNING)
    store = SqlAlchemyStore(f"sqlite:///{database}")
    _skip_fsync(store.engine)
    tag = RegisteredModelTag(LAST_APPLIED_TAG, LastApplied(aliases=dict(ALIASES)).to_tag_value())
    names = model_names(count)
    try:
        for name in names:
            store.create_registered_model(name, tags=[tag])
            for version in range(1, VERSIONS + 1):
                store.create_model_version(name, source=f"s3://bench/{name}/{version}")
            for alias, version in ALIASES.items():
                store.set_registered_model_alias(name, alias, str(version))
    finally:
        store._dispose_engine()
    return SeededRegistry(database=database, names=names)


def _skip_fsync(engine: Any) -> None:
    """A throwaway store need not survive a power cut: without fsync, seeding is several times
    faster (SQLite otherwise syncs on every one of the store's commits)."""
    from sqlalchemy import event

    engine.dispose()
    event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA synchronous = OFF"))


def manifest_text(names: list[str], moved: set[str]) -> str:
    """A manifest of every seeded alias, `champion` moved to version 3 for the `moved` models."""
    lines = ["version: 1", "models:"]
    for name in names:
        champion = 3 if name in moved else ALIASES["champion"]
        lines += [
            f"  {name}:",
            "    aliases:",
            f"      champion: {champion}",
            f"      challenger: {ALIASES['challenger']}",
        ]
    return "\n".join(lines) + "\n"


def every_nth(names: list[str], count: int) -> Iterator[str]:
    """`count` names spread evenly over `names`, so a change is not always at the front."""
    step = len(names) / count
    return (names[int(i * step)] for i in range(count))
