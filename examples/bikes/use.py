"""Consume the registry: search the approved versions, load one by version and by alias.

Applications load `models:/bikes@champion`; which version that is, is decided in git.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow import MlflowClient

MODEL_NAME = "bikes"
SAMPLE = {"hour": 17, "weekday": 2, "temperature": 22.5, "humidity": 0.45, "season": "summer"}


def approved_versions(client: MlflowClient) -> list[str]:
    """Search by tag: the versions the evaluation step approved, newest first."""
    found = client.search_model_versions(
        f"name = '{MODEL_NAME}' AND tags.validation_status = 'approved'"
    )
    return sorted((str(mv.version) for mv in found), key=int, reverse=True)


def use(tracking_uri: str, alias: str) -> None:
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient()
    for mv in sorted(
        client.search_model_versions(f"name = '{MODEL_NAME}'"), key=lambda m: int(m.version)
    ):
        tags = mv.tags
        print(
            f"  version {mv.version}: {mv.description or '':<30} rmse={tags.get('rmse', '?'):>6}"
            f"  {tags.get('validation_status', 'unevaluated')}"
        )
    approved = approved_versions(client)
    print(f"approved versions: {', '.join(approved) or 'none'}")

    sample = pd.DataFrame([SAMPLE])
    by_version = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{approved[0]}")
    print(
        f"models:/{MODEL_NAME}/{approved[0]} predicts {by_version.predict(sample)[0]:.0f} rentals"
    )
    served = client.get_model_version_by_alias(MODEL_NAME, alias).version
    by_alias = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{alias}")
    print(
        f"models:/{MODEL_NAME}@{alias} (version {served}) predicts "
        f"{by_alias.predict(sample)[0]:.0f} rentals for {SAMPLE}"
    )
