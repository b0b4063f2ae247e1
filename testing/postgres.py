"""A throwaway PostgreSQL server from Debian's `postgresql` package, for an MLflow backend store.

`initdb` into a fresh temporary folder, `pg_ctl start` on a free loopback port with no Unix
socket, one database, and everything stopped and removed afterwards. PostgreSQL refuses to
run as root, so as root the server runs as the `postgres` user the Debian package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from testing.server import free_port

DATABASE = "mlflow"


class PostgresUnavailable(RuntimeError):
    """This machine cannot run PostgreSQL; the message says why and how to fix it."""


def postgres_bin() -> Path:
    """The newest installed server's bin folder (Debian keeps them off PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresUnavailable(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb and no initdb on "
        "PATH): apt-get install postgresql"
    )


def _run_as() -> list[str]:
    """The prefix that runs a command as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(
            "running as root and there is no `postgres` user to run PostgreSQL as"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root and `runuser` is missing to drop privileges")
    return [runuser, "-u", "postgres", "--"]


def _check(cmd: list[str], log: Path) -> None:
    with log.open("ab") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise PostgresUnavailable(
            f"PostgreSQL set-up failed: {' '.join(cmd)}\n"
            f"--- {log} ---\n{log.read_text(errors='replace')}"
        )


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """Start PostgreSQL; yield a SQLAlchemy URI of an empty database for MLflow."""
    bin_dir = postgres_bin()
    as_user = _run_as()
    # Not under pytest's tmp_path: that is private to root, and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="mlflow-gitops-pg-"))
    # Two logs: ours (written by this process) and the server's (written by its user).
    data, log, server_log = root / "data", root / "setup.log", root / "server.log"
    if as_user:
        shutil.chown(root, user="postgres")
    port = free_port()
    ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data)]
    try:
        _check(
            [
                *as_user,
                *(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"),
                *("-E", "UTF8", "--no-sync", "--no-instructions"),
            ],
            log,
        )
        options = f"-h 127.0.0.1 -p {port} -k '' -c fsync=off -c full_page_writes=off"
        try:
            _check(
                [*ctl, "-l", str(server_log), "-o", options, "-w", "start"],
                log,
            )
            _check(
                [
                    *as_user,
                    *(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port)),
                    *("-U", "postgres", DATABASE),
                ],
                log,
            )
            yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{DATABASE}"
        finally:
            subprocess.run(
                [*ctl, "-m", "immediate", "-w", "stop"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
