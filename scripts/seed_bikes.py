"""Seed the demo registry with the ``bikes`` model: three versions of a bike-demand regressor.

Each version is trained on the same synthetic bike-rental data (numpy, fixed seed, no
network), logged with ``mlflow.sklearn.log_model`` in a run of experiment ``bikes-demo``
and registered as a new version of registered model ``bikes``. All versions share one
input schema, so any of them can be promoted to ``@champion``.

Idempotent: if ``bikes`` already has 3 or more versions nothing is done.

    python scripts/seed_bikes.py [--tracking-uri sqlite:///mlflow.db]
"""

from __future__ import annotations

import logging
import warnings

import mlflow
import numpy as np
import pandas as pd
from demo_args import demo_parser
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.base import RegressorMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, root_mean_squared_error
from sklearn.model_selection import train_test_split

MODEL_NAME = "bikes"
EXPERIMENT = "bikes-demo"
SEED = 42
# skops (MLflow's default sklearn format) refuses tree internals unless explicitly trusted.
SKOPS_TRUSTED = ["sklearn.tree._tree.Tree"]

# One entry per registered version, in order: (description, estimator).
VERSIONS: list[tuple[str, RegressorMixin]] = [
    ("Ridge baseline", Ridge(alpha=1.0)),
    (
        "RandomForest, 20 shallow trees",
        RandomForestRegressor(n_estimators=20, max_depth=5, random_state=SEED),
    ),
    (
        "RandomForest, 100 deep trees",
        RandomForestRegressor(n_estimators=100, max_depth=12, random_state=SEED),
    ),
]


def make_data(n: int = 3000, seed: int = SEED) -> tuple[pd.DataFrame, pd.Series]:
    """Synthetic hourly rentals: commute peaks on weekdays, warm dry days are busier."""
    rng = np.random.default_rng(seed)
    hour = rng.integers(0, 24, n)
    is_weekend = (rng.random(n) < 2 / 7).astype(int)
    temperature = rng.normal(16, 8, n).round(1)
    humidity = rng.uniform(0.2, 1.0, n).round(2)

    commute = np.exp(-((hour - 8) ** 2) / 3) + np.exp(-((hour - 17.5) ** 2) / 4)
    leisure = np.exp(-((hour - 14) ** 2) / 12)
    daily = np.where(is_weekend == 1, 300 * leisure, 450 * commute + 80 * leisure)
    weather = 1 + 0.03 * (temperature - 16) - 0.6 * (humidity - 0.6)
    rentals = np.clip(30 + daily * weather + rng.normal(0, 25, n), 0, None).round()

    X = pd.DataFrame(
        {
            "hour": hour,
            "temperature": temperature,
            "humidity": humidity,
            "is_weekend": is_weekend,
        }
    )
    return X, pd.Series(rentals, name="rentals")


def quiet_mlflow() -> None:
    """Hide two advisory messages that are noise for this demo."""
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)  # "no pip in venv"


def seed(tracking_uri: str) -> None:
    quiet_mlflow()
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient()
    existing = len(client.search_model_versions(f"name = '{MODEL_NAME}'"))
    if existing >= len(VERSIONS):
        print(f"'{MODEL_NAME}' already has {existing} versions in {tracking_uri}; nothing to do.")
        return

    X, y = make_data()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=SEED)
    mlflow.set_experiment(EXPERIMENT)

    for description, estimator in VERSIONS[existing:]:
        with mlflow.start_run(run_name=description):
            estimator.fit(X_train, y_train)
            pred = estimator.predict(X_test)
            rmse = root_mean_squared_error(y_test, pred)
            mlflow.log_params({"estimator": type(estimator).__name__, **estimator.get_params()})
            mlflow.log_metrics({"rmse": rmse, "mae": mean_absolute_error(y_test, pred)})
            info = mlflow.sklearn.log_model(
                estimator,
                name="model",
                signature=infer_signature(X_train, pred),
                input_example=X_train.head(3),
                skops_trusted_types=SKOPS_TRUSTED,
                # Explicit requirements skip MLflow's slow (~7 s) import-capturing inference.
                pip_requirements=mlflow.sklearn.get_default_pip_requirements(include_skops=True),
            )
            mv = mlflow.register_model(info.model_uri, MODEL_NAME)
            client.update_model_version(MODEL_NAME, mv.version, description=description)
        print(f"{MODEL_NAME} version {mv.version}: {description:<32} rmse={rmse:6.1f}")


def main() -> None:
    parser = demo_parser(__doc__.splitlines()[0])
    seed(parser.parse_args().tracking_uri)


if __name__ == "__main__":
    main()
