"""The whole model-registry workflow on the `bikes` model, as `make demo` runs it.

1. set up tracking and registry (the embedded sqlite:///mlflow.db, or --tracking-uri);
2. train, log (signature, input example, custom pyfunc), register, evaluate, approve;
3. `mlflow-gitops plan` and `apply` this repository's registry.yaml;
4. search versions, load by version and by alias;
5. promote through the manifest and roll back while `mlflow-gitops serve` answers.

    python examples/bikes/walkthrough.py [--tracking-uri URI] [--rows N]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from args import example_parser
from live import live as promote_and_roll_back_live
from live import run
from seed import seed
from use import approved_versions, use

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = example_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000, help="rows of synthetic data")
    parser.add_argument(
        "--manifest", type=Path, default=REPO / "registry.yaml", help="manifest to apply"
    )
    args = parser.parse_args()
    target = ("--tracking-uri", args.tracking_uri)
    manifest = os.path.relpath(args.manifest)  # as a user would type it

    seed(args.tracking_uri, args.rows)
    run("plan", "-f", manifest, *target)
    run("apply", "-f", manifest, "--auto-approve", *target)
    use(args.tracking_uri, "champion")

    from mlflow import MlflowClient

    client = MlflowClient(args.tracking_uri)
    champion = str(client.get_model_version_by_alias("bikes", "champion").version)
    candidates = [v for v in approved_versions(client) if v != champion]
    if not candidates:
        sys.exit("no approved version other than the champion to promote")
    promote_and_roll_back_live(args.tracking_uri, args.manifest, candidates[0])


if __name__ == "__main__":
    sys.exit(main())
