"""`python -m controller` runs the same CLI as the `mlflow-gitops` script."""

import sys

from controller.cli import main

sys.exit(main())
