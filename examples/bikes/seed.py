"""Train, log, register and evaluate the `bikes` model: three versions of a demand regressor.

Each version is a scikit-learn pipeline wrapped in `BikeDemandModel` (a pyfunc with its own
post-processing), logged in a run of experiment `bikes-demo` with `infer_signature` and an
input example, and registered as the next version of `bikes`. The evaluation step then tags
the versions that beat the bar `validation_status=approved`; only those should be promoted.

Idempotent: if `bikes` already has every version, nothing is trained.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from pathlib import Path

import joblib
import mlflow
import numpy as np
from bikes_model import BikeDemandModel
from data import make_data
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.base import RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, root_mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

MODEL_NAME = "bikes"
EXPERIMENT = "bikes-demo"
SEED = 42
# Approved when the typical error is under this share of the typical demand's spread.
APPROVAL_RMSE_RATIO = 0.5
HERE = Path(__file__).resolve().parent

VERSIONS: list[tuple[str, RegressorMixin]] = [
    ("Ridge baseline", Ridge(alpha=1.0)),
    (
        "RandomForest, 30 trees",
        RandomForestRegressor(n_estimators=30, max_depth=10, random_state=SEED),
    ),
    (
        "GradientBoosting, 200 stages",
        GradientBoostingRegressor(n_estimators=200, max_depth=4, random_state=SEED),
    ),
]


def pipeline(estimator: RegressorMixin) -> Pipeline:
    """One-hot the season; the regressor sees the rest as numbers (trees find the peaks)."""
    encode = ColumnTransformer(
        [("season", OneHotEncoder(handle_unknown="ignore"), ["season"])],
        remainder="passthrough",
    )
    return Pipeline([("features", encode), ("regressor", estimator)])


def quiet_mlflow() -> None:
    """Hide advisory messages that are noise for this demo: its stderr is for problems."""
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
    warnings.filterwarnings("ignore", category=FutureWarning)
    # MLflow's INFO lines (creating the database tables, the experiment): the demo says what
    # it does on stdout.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    for noisy in ("mlflow.utils.environment", "mlflow.utils.uv_utils", "mlflow.pyfunc"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def log_version(description: str, fitted: Pipeline, X_train, metrics: dict[str, float]) -> str:
    """Log one fitted pipeline as a pyfunc in its own run, register it; return the version."""
    example = X_train.head(3)
    with mlflow.start_run(run_name=description), tempfile.TemporaryDirectory() as tmp:
        regressor = fitted.named_steps["regressor"]
        mlflow.log_params({"regressor": type(regressor).__name__, **regressor.get_params()})
        mlflow.log_metrics(metrics)
        joblib.dump(fitted, Path(tmp) / "pipeline.joblib")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=BikeDemandModel(),
            artifacts={"pipeline": str(Path(tmp) / "pipeline.joblib")},
            code_paths=[str(HERE / "bikes_model.py")],
            signature=infer_signature(example, fitted.predict(example).round()),
            input_example=example,
            # Explicit requirements skip MLflow's slow import-capturing inference.
            pip_requirements=["mlflow", "scikit-learn", "joblib", "pandas"],
        )
    # register_model announces each registration on stderr; the demo prints its own line.
    with contextlib.redirect_stderr(io.StringIO()):
        version = mlflow.register_model(info.model_uri, MODEL_NAME).version
    MlflowClient().update_model_version(MODEL_NAME, version, description=description)
    return str(version)


def evaluate(version: str, X_test, y_test) -> tuple[float, bool]:
    """Load the registered version as any consumer would, score it, and tag it if it passes."""
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{version}")
    rmse = root_mean_squared_error(y_test, model.predict(X_test))
    approved = rmse < APPROVAL_RMSE_RATIO * float(np.std(y_test))
    client = MlflowClient()
    client.set_model_version_tag(MODEL_NAME, version, "rmse", f"{rmse:.1f}")
    client.set_model_version_tag(
        MODEL_NAME, version, "validation_status", "approved" if approved else "rejected"
    )
    return rmse, approved


def seed(tracking_uri: str, rows: int) -> None:
    quiet_mlflow()
    mlflow.set_tracking_uri(tracking_uri)
    existing = len(MlflowClient().search_model_versions(f"name = '{MODEL_NAME}'"))
    if existing >= len(VERSIONS):
        print(f"'{MODEL_NAME}' already has {existing} versions in {tracking_uri}; nothing to do.")
        return
    X, y = make_data(rows, SEED)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=SEED)
    mlflow.set_experiment(EXPERIMENT)
    for description, estimator in VERSIONS[existing:]:
        fitted = pipeline(estimator).fit(X_train, y_train)
        pred = fitted.predict(X_test)
        metrics = {
            "rmse": root_mean_squared_error(y_test, pred),
            "mae": mean_absolute_error(y_test, pred),
        }
        version = log_version(description, fitted, X_train, metrics)
        rmse, approved = evaluate(version, X_test, y_test)
        verdict = "approved" if approved else "rejected"
        print(f"{MODEL_NAME} version {version}: {description:<30} rmse={rmse:6.1f}  {verdict}")
