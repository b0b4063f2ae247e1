"""The example's shared command line: which registry to use, resolved as the tool does."""

from __future__ import annotations

import argparse

from controller.target import TargetFlags, resolve_target


def example_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--tracking-uri",
        default=resolve_target(TargetFlags(), None).tracking_uri,
        help="MLflow tracking/registry URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)",
    )
    return parser
