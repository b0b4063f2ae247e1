"""A test says what it needs: one that uses a server fixture without the `server` marker stops
the run at collection, so `make unit` can never start a server by accident."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNMARKED = """
def test_reads_the_registry(mlflow_server):
    assert mlflow_server
"""
MARKED = "import pytest\n\n\n@pytest.mark.server" + UNMARKED


def collect(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """Collect (never run) a test file with this suite's conftest loaded as a plugin."""
    test = tmp_path / "test_probe.py"
    test.write_text(source, encoding="utf-8")
    plugins = ("-p", "no:cacheprovider", "-p", "tests.conftest")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *plugins, str(test)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # a hang guard, not a timing assertion
    )


def test_a_server_fixture_without_the_server_marker_stops_the_run(tmp_path: Path) -> None:
    result = collect(tmp_path, UNMARKED)

    assert result.returncode != 0
    assert "use a server fixture without @pytest.mark.server" in result.stderr
    assert "test_probe.py::test_reads_the_registry" in result.stderr


def test_a_marked_server_test_is_collected(tmp_path: Path) -> None:
    result = collect(tmp_path, MARKED)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 test collected" in result.stdout
