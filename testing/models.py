"""Tiny real pyfunc models whose every prediction names the version that made it."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema

STARTED_MARKER_ENV = "LABEL_MODEL_STARTED"
EXAMPLE = pd.DataFrame({"x": [1.0, 2.0]})
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("double", "x"), ColSpec("double", "delay_s", required=False)]),
    outputs=Schema([ColSpec("double")]),
)


class LabelModel(PythonModel):
    """Predicts `1000 * label + x`: the thousands name the version, the rest follows the input.

    A `delay_s` column makes it sleep first, to hold a request in flight, after touching the
    file named by $LABEL_MODEL_STARTED (when set).
    """

    def __init__(self, label: float) -> None:
        self.label = label

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> list[float]:
        delay = float(model_input["delay_s"].max()) if "delay_s" in model_input else 0.0
        if delay > 0:
            if marker := os.environ.get(STARTED_MARKER_ENV):  # tells a test the request arrived
                Path(marker).touch()
            time.sleep(delay)
        return [1000 * self.label + float(x) for x in model_input["x"]]


@contextlib.contextmanager
def tracking_at(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (log_model, register_model) at `uri`, then back to unset.

    `mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI; restoring a resolved default
    would leave that variable set for every later CLI run in the process.
    """
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    with _use_tracking_uri(uri):
        mlflow.set_experiment("serving-tests")
        yield


def log_label_version(uri: str, name: str, label: float) -> str:
    """Log a LabelModel in a real run on the server at `uri`, register it; return the version."""
    with tracking_at(uri), mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=LabelModel(label),
            signature=SIGNATURE,
            pip_requirements=["mlflow"],  # skips MLflow's slow requirement inference
        )
        return str(mlflow.register_model(info.model_uri, name).version)


def log_broken_version(uri: str, name: str) -> str:
    """Register a version whose artifacts cannot load: an MLmodel naming a missing loader."""
    with tracking_at(uri), mlflow.start_run() as run:
        mlflow.log_text(
            "flavors:\n  python_function:\n    loader_module: no_such_loader_module\n"
            "    python_version: 3.11.0\n",
            "model/MLmodel",
        )
        source = f"{run.info.artifact_uri}/model"
        client = mlflow.MlflowClient(uri, uri)
        return str(client.create_model_version(name, source, run_id=run.info.run_id).version)
