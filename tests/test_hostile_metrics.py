"""Metric gates against what an EDIT user can log: NaN, rewritten values, deleted runs.

Each test logs a real run on the session server and registers a version from it; the gates
must judge the metric as it was when the version was registered, and never pass on a value
that compares false with everything.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from controller.cli import main

pytestmark = pytest.mark.server

Run = Callable[..., tuple[int, str, str]]
LATER = "2040-01-01T00:00:00Z"


@pytest.fixture
def run(
    capsys: pytest.CaptureFixture[str], mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Run]:
    """The CLI in-process against the session server."""

    def _run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setenv("MLFLOW_GITOPS_NOW", LATER)
        capsys.readouterr()
        code = main([*args, "--tracking-uri", mlflow_server])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    yield _run


@pytest.fixture
def registered(server_client) -> Callable[..., tuple[str, str]]:
    """Factory: a run that logged `metrics` (at step 0), registered as version 1 of a new
    model; returns (model, run id)."""

    def _make(metrics: Mapping[str, float]) -> tuple[str, str]:
        experiment = server_client.get_experiment_by_name("hostile-metrics")
        experiment_id = (
            experiment.experiment_id
            if experiment
            else server_client.create_experiment("hostile-metrics")
        )
        run_id = server_client.create_run(experiment_id).info.run_id
        for key, value in metrics.items():
            server_client.log_metric(run_id, key, value, step=0)
        server_client.set_terminated(run_id)
        name = f"hostile{uuid.uuid4().hex[:8]}"
        server_client.create_registered_model(name)
        server_client.create_model_version(name, f"s3://fixtures/{name}/1", run_id=run_id)
        return name, run_id

    return _make


def manifest(tmp_path: Path, name: str, gate: str) -> str:
    path = tmp_path / "registry.yaml"
    path.write_text(
        f"version: 1\nmodels:\n  {name}:\n    aliases: {{champion: 1}}\n"
        f"    gates:\n      champion: {gate}\n",
        encoding="utf-8",
    )
    return str(path)


def plan_json(run: Run, path: str) -> dict:
    code, out, err = run("plan", "-f", path, "--format", "json")
    assert code in (0, 1), err
    return json.loads(out)


def gate_results(plan: dict) -> list[tuple]:
    (change,) = plan["changes"]
    return [(g["gate"], g["passed"], g["message"]) for g in change["gates"]]


def aliases(client, name: str) -> dict[str, str]:
    return dict(client.get_registered_model(name).aliases)


def test_a_nan_metric_fails_its_bound_and_apply_leaves_the_alias_alone(
    run: Run, registered, server_client, tmp_path: Path
) -> None:
    name, _ = registered({"rmse": float("nan")})
    path = manifest(tmp_path, name, "{metrics: {rmse: {max: 60}}}")
    code, out, _ = run("plan", "-f", path)
    assert code == 1
    assert "✗ metrics.rmse = nan" in out
    assert f"{name}@champion -> 1: metrics.rmse = nan: not a finite number" in out
    code, out, _ = run("apply", "--auto-approve", "-f", path)
    assert code == 1, out
    assert aliases(server_client, name) == {}


def test_a_metric_rewritten_after_registration_does_not_flip_its_gate(
    run: Run, registered, server_client, tmp_path: Path, rest_calls
) -> None:
    name, run_id = registered({"rmse": 131.2, "mae": 50.0})
    path = manifest(tmp_path, name, "{metrics: {rmse: {max: 120.0}}}")
    # The run finished and its version was registered; an EDIT user logs a better value at a
    # huge step, which MLflow then reports as the run's latest rmse.
    server_client.log_metric(run_id, "rmse", 1.0, step=10**9)
    assert server_client.get_run(run_id).data.metrics["rmse"] == 1.0

    rest_calls.clear()
    plan = plan_json(run, path)
    assert gate_results(plan) == [("metrics.rmse", False, "metric rmse 131.2 > max 120.0")]
    evidence = plan["changes"][0]["evidence"]["to"]
    point = evidence["metric_points"]["rmse"]
    assert (point["step"], point["later"]) == (0, 1) and point["logged_at"].endswith("Z")
    assert "mae" not in evidence["metric_points"]  # no gate reads it: no history read either
    endpoints = [endpoint.split("/mlflow/", 1)[1] for _, endpoint in rest_calls]
    assert endpoints.count("metrics/get-history") == 1 and endpoints.count("runs/get") == 1

    code, out, _ = run("plan", "-f", path)
    assert code == 1
    assert "rmse=131.2 (step 0, " in out and "; 1 logged after registration not counted)" in out
    code, out, _ = run("apply", "--auto-approve", "-f", path)
    assert code == 1, out
    assert aliases(server_client, name) == {}


def test_a_metric_logged_only_after_registration_is_missing(
    run: Run, registered, server_client, tmp_path: Path
) -> None:
    name, run_id = registered({})
    server_client.log_metric(run_id, "rmse", 1.0)
    plan = plan_json(run, manifest(tmp_path, name, "{metrics: {rmse: {max: 120.0}}}"))
    assert gate_results(plan) == [
        ("metrics.rmse", False,
         "metric rmse was only logged after version 1 was registered (1 value(s), not counted)"),
    ]  # fmt: skip


def test_a_deleted_runs_metrics_fail_their_gates_and_the_evidence_says_so(
    run: Run, registered, server_client, tmp_path: Path
) -> None:
    name, run_id = registered({"rmse": 50.0})
    path = manifest(tmp_path, name, "{metrics: {rmse: {max: 120.0}}}")
    assert plan_json(run, path)["errors"] == []
    server_client.delete_run(run_id)

    plan = plan_json(run, path)
    assert gate_results(plan) == [
        ("metrics.rmse", False, "metric rmse of version 1 does not count: run deleted")
    ]
    assert plan["changes"][0]["evidence"]["to"]["run_deleted"] is True
    code, out, _ = run("plan", "-f", path)
    assert code == 1 and f"run {run_id[:8]} (run deleted)" in out
    code, out, _ = run("apply", "--auto-approve", "-f", path)
    assert code == 1, out
    assert aliases(server_client, name) == {}
