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
from live import TOOL, run
from live import live as promote_and_roll_back_live
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
    repo = promote_and_roll_back_live(args.tracking_uri, args.manifest, candidates[0])
    print(try_next(repo, args.tracking_uri))


def try_next(repo: Path, tracking_uri: str) -> str:
    """Where the scratch repository is, and three things to do with it next."""
    tool = os.path.relpath(TOOL) if TOOL.startswith(os.getcwd()) else TOOL
    mlflow_cli = str(Path(tool).parent / "mlflow")
    manifest = repo / "registry.yaml"
    target = f"-f {manifest} --tracking-uri {tracking_uri}"
    return "\n".join(
        [
            "",
            f"The demo's scratch repository is kept: {repo}",
            "(its registry.yaml, and one commit per promotion and rollback).",
            "",
            "Three things to try next:",
            f"  1. Who moved bikes@champion, and when:  git -C {repo} log --oneline; "
            f"{tool} history bikes champion -f {manifest}",
            f"  2. Promote again, by hand:  {tool} promote bikes champion latest "
            f"{target}; {tool} plan {target}; {tool} apply {target}",
            f"  3. See the aliases in MLflow's UI:  {mlflow_cli} ui --backend-store-uri "
            f"{tracking_uri}, then open http://127.0.0.1:5000/#/models/bikes",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
