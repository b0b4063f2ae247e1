"""Load ``models:/bikes@champion`` and print its prediction for one sample hour.

Shows which version the ``champion`` alias currently resolves to, so the effect of a
GitOps promotion is visible from the consumer side.

    python scripts/predict_bikes.py [--tracking-uri sqlite:///mlflow.db] [--alias champion]
"""

from __future__ import annotations

import sys

import mlflow
import pandas as pd
from demo_args import demo_parser
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

MODEL_NAME = "bikes"
SAMPLE = {"hour": 17, "temperature": 22.5, "humidity": 0.45, "is_weekend": 0}


def predict(tracking_uri: str, alias: str) -> None:
    mlflow.set_tracking_uri(tracking_uri)
    try:
        version = MlflowClient().get_model_version_by_alias(MODEL_NAME, alias).version
    except MlflowException as exc:
        sys.exit(f"Cannot resolve {MODEL_NAME}@{alias} in {tracking_uri}: {exc.message}")
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{alias}")
    rentals = float(model.predict(pd.DataFrame([SAMPLE]))[0])
    print(f"{MODEL_NAME}@{alias} (version {version}) predicts {rentals:.1f} rentals for {SAMPLE}")


def main() -> None:
    parser = demo_parser(__doc__.splitlines()[0])
    parser.add_argument("--alias", default="champion", help="registry alias to load")
    args = parser.parse_args()
    predict(args.tracking_uri, args.alias)


if __name__ == "__main__":
    main()
