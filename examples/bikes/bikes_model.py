"""The served model: a scikit-learn pipeline inside a pyfunc that owns its post-processing.

Logged with `code_paths`, so wherever MLflow loads it (`mlflow-gitops serve`, `mlflow models
serve`, a notebook) this module travels with it.
"""

from __future__ import annotations

from typing import Any

import joblib
import mlflow
import numpy as np
import pandas as pd


class BikeDemandModel(mlflow.pyfunc.PythonModel):
    """Rentals are whole bikes and never negative, whatever the regressor says."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.pipeline = joblib.load(context.artifacts["pipeline"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        raw = self.pipeline.predict(model_input)
        return np.clip(raw, 0, None).round()
