"""Shared pytest fixtures: a real, session-scoped MLflow tracking server.

mlflow is imported lazily inside the fixtures, so pure unit tests that never
request a server fixture do not pay for the import or the server start-up.
Tests using a server fixture must be marked ``server`` (collection stops otherwise), so
``make unit`` (``-m "not server and not e2e and not network and not browser"``) runs none of them.
With ``MLFLOW_GITOPS_TEST_BACKEND=postgres`` the server's backend store is a throwaway
PostgreSQL instead of SQLite.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from testing.auth import AuthServer, running_auth_server
from testing.mlflow2 import BUILD_COMMAND, MLFLOW2_SERIES, mlflow2_executable
from testing.postgres import PostgresUnavailable, running_postgres
from testing.server import ServerStartError, recorded_rest_calls, running_server

if TYPE_CHECKING:
    from mlflow import MlflowClient

# The act fixtures (adopter, adopter_origin), for the workflow tests.
pytest_plugins = ["testing.act"]

READY_TIMEOUT_S = 30.0
BACKEND_VARIABLE = "MLFLOW_GITOPS_TEST_BACKEND"
BACKENDS = ("sqlite", "postgres")
SERVER_FIXTURES = {
    "mlflow_server",
    "server_client",
    "make_model",
    "set_version_status",
    "auth_server",
    "source_server",
    "mlflow2_server",
}


# What the CI job running this suite sets (GitHub sets GITHUB_ACTIONS=true and CI=true in every
# step) and what picks a registry: none of it may reach a test. The suite's own switch stays.
OUTER_PREFIXES = ("GITHUB_", "RUNNER_", "ACTIONS_", "MLFLOW_")
OUTER_NAMES = ("CI",)


@pytest.fixture(autouse=True)
def no_outer_ci_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run the CLI; when this suite itself runs in GitHub Actions, the CLI must not act as
    that job's step (refuse uncommitted manifests, write its outputs and summary, record its
    commit and actor as provenance) nor talk to the registry the job names."""
    for name in list(os.environ):
        outer = name.startswith(OUTER_PREFIXES) or name in OUTER_NAMES
        if outer and name != BACKEND_VARIABLE:
            monkeypatch.delenv(name)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    refuse_unmarked_server_tests(items)
    for item in items:
        if group := worker_group(item):
            item.add_marker(pytest.mark.xdist_group(group))


def worker_group(item: pytest.Item) -> str | None:
    """Which tests `--dist loadgroup` keeps on one worker (each worker has its own server).

    The act runs, one at a time: each runs a whole workflow on the host. The tests of a module
    with a module-scoped fixture (a tool install, a seeded registry, trained runs) together, so
    the fixture is built once.
    """
    if item.get_closest_marker("e2e"):
        return "act"
    fixtures = getattr(item, "_fixtureinfo", None)
    definitions = fixtures.name2fixturedefs.values() if fixtures else ()
    if any(d.scope == "module" for defs in definitions for d in defs):
        return item.nodeid.split("::")[0]
    return None


def refuse_unmarked_server_tests(items: list[pytest.Item]) -> None:
    """A test says what it needs with its markers (pyproject lists them), so `make unit` runs
    offline and without servers; one that uses a server fixture unmarked stops the run."""
    unmarked = [
        item.nodeid
        for item in items
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("server") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests use a server fixture without @pytest.mark.server:\n  "
            + "\n  ".join(unmarked)
        )


@pytest.fixture(scope="session")
def mlflow_server_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's folder: its SQLite store, artifacts and log."""
    return tmp_path_factory.mktemp("mlflow_server")


@pytest.fixture(scope="session")
def mlflow_backend() -> str:
    """Which backend store the session's server uses: sqlite, or postgres when asked."""
    backend = os.environ.get(BACKEND_VARIABLE, "sqlite")
    if backend not in BACKENDS:
        pytest.fail(f"{BACKEND_VARIABLE}={backend!r}: expected one of {BACKENDS}", pytrace=False)
    return backend


@pytest.fixture(scope="session")
def backend_store_uri(mlflow_backend: str, mlflow_server_root: Path) -> Iterator[str]:
    """The server's store; a PostgreSQL one is started here and stopped after the session.

    Without PostgreSQL the tests skip with the reason, except under CI, where they fail:
    CI must never pass by skipping the backend production servers use.
    """
    if mlflow_backend == "sqlite":
        yield f"sqlite:///{mlflow_server_root / 'mlflow.db'}"
        return
    try:
        with running_postgres() as uri:
            yield uri
    except PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL backend unavailable under CI: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL backend requested but unavailable: {exc}")


@pytest.fixture(scope="session")
def mlflow_server(mlflow_server_root: Path, backend_store_uri: str) -> Iterator[str]:
    """Start ``mlflow server`` on its backend store in a tmp dir; yield its base URL."""
    try:
        with running_server(mlflow_server_root, backend_store_uri) as url:
            yield url
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def set_version_status(mlflow_server: str, backend_store_uri: str) -> Callable[..., None]:
    """Factory: ``set_version_status(name, version, status)`` on the real server.

    MLflow's REST API registers versions synchronously, so it never shows one that is not
    READY; an asynchronous registration that failed leaves exactly this row behind. The
    server reads its store on every request, so it then reports the new status.
    """
    import sqlalchemy

    engine = sqlalchemy.create_engine(backend_store_uri)

    def _set(name: str, version: int, status: str) -> None:
        with engine.begin() as db:
            db.execute(
                sqlalchemy.text(
                    "UPDATE model_versions SET status = :status"
                    " WHERE name = :name AND version = :version"
                ),
                {"status": status, "name": name, "version": version},
            )

    return _set


@pytest.fixture
def server_client(mlflow_server: str) -> MlflowClient:
    """An ``MlflowClient`` pointing tracking and registry at the session server."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)


@pytest.fixture
def make_model(server_client: MlflowClient) -> Callable[..., str]:
    """Factory: ``make_model(prefix="m", versions=3) -> name`` of a new registered model.

    Versions use ``s3://fixtures/<name>/<i>`` sources (the server rejects local
    paths outside a run's artifacts); nothing is uploaded. Returns once every
    version is READY.
    """

    def _make(prefix: str = "m", versions: int = 3) -> str:
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        server_client.create_registered_model(name)
        for i in range(1, versions + 1):
            mv = server_client.create_model_version(
                name, source=f"s3://fixtures/{name}/{i}", await_creation_for=0
            )
            deadline = time.monotonic() + READY_TIMEOUT_S
            while mv.status != "READY":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} v{mv.version} stuck in {mv.status}")
                time.sleep(0.1)
                mv = server_client.get_model_version(name, mv.version)
        return name

    return _make


@pytest.fixture
def rest_calls() -> Iterator[list[tuple[str, str]]]:
    """(method, endpoint) of every MLflow REST call made during the test, in order."""
    with recorded_rest_calls() as calls:
        yield calls


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """A basic-auth ``mlflow server`` (its own stores); the admin creates users and grants."""
    try:
        with running_auth_server(tmp_path_factory.mktemp("mlflow_auth_server")) as server:
            yield server
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def mlflow2_server_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 2.x server's folder: its SQLite store (``mlflow.db``), artifacts and log."""
    return tmp_path_factory.mktemp("mlflow2_server")


@pytest.fixture(scope="module")
def mlflow2_server(mlflow2_server_root: Path) -> Iterator[str]:
    """An MLflow 2.x ``mlflow server`` (its own environment, SQLite store); yield its base URL.

    Module-scoped, so its tests share one worker and one server (see `worker_group`).

    Without that environment the tests skip with the reason, except under CI, where they fail:
    CI must never pass by skipping the servers teams still run.
    """
    executable = mlflow2_executable()
    if executable is None:
        reason = f"no MLflow {MLFLOW2_SERIES} environment: build it with `{BUILD_COMMAND}`"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (required under CI)", pytrace=False)
        pytest.skip(reason)
    try:
        with running_server(mlflow2_server_root, mlflow=executable) as url:
            yield url
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def source_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second, independent ``mlflow server`` (its own SQLite store and artifacts): the
    registry copies come from, as a staging server is to production."""
    try:
        with running_server(tmp_path_factory.mktemp("mlflow_source_server")) as url:
            yield url
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
