"""The MLflow 2.x server the tests run against, from its own environment.

The client stays 3.x (this project's pin); teams still run 2.x servers. `make test` builds the
environment (`make .tools/mlflow2/bin/mlflow`: uv, `mlflow==2.22.*` and `sqlalchemy<2.1`).
"""

from __future__ import annotations

from pathlib import Path

MLFLOW2_SERIES = "2.22"
MLFLOW2_EXECUTABLE = Path(__file__).resolve().parents[1] / ".tools" / "mlflow2" / "bin" / "mlflow"
BUILD_COMMAND = "make .tools/mlflow2/bin/mlflow"


def mlflow2_executable() -> Path | None:
    """The 2.x environment's `mlflow`, or None when it was not built."""
    return MLFLOW2_EXECUTABLE if MLFLOW2_EXECUTABLE.is_file() else None
