"""The bikes example runs start to finish against the real server, on a small data size."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parent.parent


def test_the_bikes_walkthrough_promotes_and_rolls_back_while_serve_answers(
    mlflow_server: str, server_client, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "bikes" / "walkthrough.py"),
            "--tracking-uri",
            mlflow_server,
            "--rows",
            "600",
        ],
        cwd=tmp_path,
        # The scratch repository the demo keeps lands in this test's folder.
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "registry.yaml: bikes@champion 2 -> 3" in out
    assert "registry.yaml: bikes@champion 3 -> 2" in out
    assert " 0 failed; versions in order: 2 -> 3 -> 2" in out
    # stderr is for problems: no MLflow INFO lines, no registration chatter, no package lists.
    assert result.stderr == ""

    kept = re.search(r"The demo's scratch repository is kept: (\S+)", out)
    assert kept, out
    repo = Path(kept[1])
    assert repo.parent == tmp_path
    log = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%s"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert log == [
        "rollback bikes@champion: 3 -> 2",
        "promote bikes@champion: 2 -> 3",
        "Adopt the bikes manifest",
    ]
    next_steps = out.split("Three things to try next:\n")[1].splitlines()
    assert [line[:5] for line in next_steps] == ["  1. ", "  2. ", "  3. "]

    aliases = server_client.get_registered_model("bikes").aliases
    assert {a: str(v) for a, v in aliases.items()} == {"champion": "2", "challenger": "3"}
    statuses = {
        str(mv.version): mv.tags.get("validation_status")
        for mv in server_client.search_model_versions("name = 'bikes'")
    }
    assert statuses == {"1": "rejected", "2": "approved", "3": "approved"}
    for version in ("1", "2", "3"):
        mlmodel = yaml.safe_load(
            Path(
                mlflow.artifacts.download_artifacts(
                    server_client.get_model_version_download_uri("bikes", version) + "/MLmodel",
                    dst_path=str(tmp_path / version),
                    tracking_uri=mlflow_server,
                )
            ).read_text()
        )
        assert set(mlmodel["signature"]) >= {"inputs", "outputs"}
        assert mlmodel["saved_input_example_info"]
        assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.pyfunc.model"
