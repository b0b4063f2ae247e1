"""Model versions logged from real runs, for the evidence and gate tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

FEATURES = ("temp", "hour")


def log_version(
    tracking_uri: str,
    name: str,
    *,
    metrics: Mapping[str, float] | None = None,
    tags: Mapping[str, str] | None = None,
    signature: bool = True,
    features: Sequence[str] = FEATURES,
) -> int:
    """Train a tiny regression in a run, log it with or without a signature, register it.

    pip_requirements is given so MLflow skips inferring the environment (seconds per model).
    """
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame(
        np.arange(3.0 * len(features)).reshape(3, len(features)) ** 1.5, columns=list(features)
    )
    target = np.array([1.0, 2.0, 4.0])
    model = LinearRegression().fit(frame, target)
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run():
        mlflow.log_metrics(dict(metrics or {}))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(frame, model.predict(frame)) if signature else None,
            pip_requirements=["scikit-learn"],
            registered_model_name=name,
        )
    version = int(info.registered_model_version)
    client = mlflow.MlflowClient(tracking_uri, tracking_uri)
    for key, value in (tags or {}).items():
        client.set_model_version_tag(name, str(version), key, value)
    return version
