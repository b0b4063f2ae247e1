"""Fill a SQLite MLflow store directly, for a server started on it afterwards.

Seeding over REST costs a round trip per call (minutes at 1,000 models), and even the store's
own methods commit once per call (~10 ms a model). Here the store creates the schema, and its
session writes the same ORM rows those methods would, 500 models per transaction: 5,000
models take seconds. tests/test_scale_smoke.py reads a seeded store back over REST.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.ownership import OWNER_TAG
from controller.state import LastApplied

VERSIONS = 3
MODELS_PER_TRANSACTION = 500
# alias -> version every seeded model starts with; the benchmarks move some of them.
ALIASES = {"champion": 2, "challenger": 3}

# The benchmark manifest's owner name, recorded on every seeded model.
OWNER = "bench"


@dataclass(frozen=True)
class SeededRegistry:
    """What `seed_registry` wrote: the store's file and the models' names, in order."""

    database: Path
    names: list[str]


def model_names(count: int) -> list[str]:
    return [f"bench-{i:05d}" for i in range(count)]


def seed_registry(database: Path, count: int, *, managed: bool = True) -> SeededRegistry:
    """`count` models x 3 versions x 2 aliases, each with the last-applied tag this tool writes.

    The tag makes every model one the tool already manages, so a plan or an apply measures the
    steady state; `managed=False` leaves it out, for a first apply (adoption) to write.
    """
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    logging.getLogger("alembic").setLevel(logging.WARNING)
    store = SqlAlchemyStore(f"sqlite:///{database}")  # creates and migrates the schema
    _skip_fsync(store.engine)
    names = model_names(count)
    try:
        for start in range(0, count, MODELS_PER_TRANSACTION):
            with store.ManagedSessionMaker(read_only=False) as session:
                for name in names[start : start + MODELS_PER_TRANSACTION]:
                    session.add_all(_model_rows(store, name, managed))
    finally:
        store._dispose_engine()
    return SeededRegistry(database=database, names=names)


def _model_rows(store: Any, name: str, managed: bool) -> list[Any]:
    """The rows the store's create_registered_model, create_model_version (x3) and
    set_registered_model_alias (x2) write for one model, without a transaction each."""
    from mlflow.store.model_registry.dbmodels.models import (
        SqlModelVersion,
        SqlRegisteredModel,
        SqlRegisteredModelAlias,
        SqlRegisteredModelTag,
    )
    from mlflow.utils.time import get_current_time_millis

    now = get_current_time_millis()
    # Already managed by the benchmark's manifest (`name: bench`): the steady state.
    tags = {**LastApplied(aliases=dict(ALIASES), owner=OWNER).to_tags(), OWNER_TAG: OWNER}
    tags = tags if managed else {}
    rows = [
        SqlRegisteredModel(name=name, creation_time=now, last_updated_time=now),
        *(SqlRegisteredModelTag(name=name, key=key, value=value) for key, value in tags.items()),
    ]
    for version in range(1, VERSIONS + 1):
        source = f"s3://bench/{name}/{version}"
        rows.append(
            SqlModelVersion(
                name=name,
                version=version,
                creation_time=now,
                last_updated_time=now,
                source=source,
                storage_location=source,
            )
        )
    rows += [
        SqlRegisteredModelAlias(name=name, alias=alias, version=version)
        for alias, version in ALIASES.items()
    ]
    return [store._with_workspace_field(row) for row in rows]


def _skip_fsync(engine: Any) -> None:
    """A throwaway store need not survive a power cut: without fsync, seeding is several times
    faster (SQLite otherwise syncs on every one of the store's commits)."""
    from sqlalchemy import event

    engine.dispose()
    event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA synchronous = OFF"))


def manifest_text(names: list[str], moved: set[str]) -> str:
    """A manifest of every seeded alias, `champion` moved to version 3 for the `moved` models."""
    lines = ["version: 1", f"name: {OWNER}", "models:"]
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


def main() -> None:
    """`python -m testing.seed DATABASE COUNT [unmanaged]`: seed in a process of its own (see
    bench_scale)."""
    import sys

    database, count, *rest = sys.argv[1:]
    seed_registry(Path(database), int(count), managed=rest != ["unmanaged"])


if __name__ == "__main__":
    main()
