"""Evidence shaping: signatures from MLmodel text, their diff, which metrics a plan shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller.evidence import (
    MAX_METRICS,
    as_registered,
    diff_signatures,
    parse_mlmodel,
    shown_metrics,
    version_evidence,
)
from controller.state import RawVersion
from controller.values import MetricPoint

MLMODEL = """\
flavors:
  python_function: {loader_module: mlflow.sklearn}
signature:
  inputs: '[{"type": "double", "name": "temp", "required": true},
    {"type": "long", "name": "hour", "required": true}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]'
  params: null
"""


def test_signature_columns_come_from_the_mlmodel_text() -> None:
    signature = parse_mlmodel(MLMODEL)
    assert signature is not None
    assert [(c.name, c.type) for c in signature.inputs] == [("temp", "double"), ("hour", "long")]
    assert [(c.name, c.type) for c in signature.outputs] == [("#0", "tensor float64 [-1]")]
    assert parse_mlmodel("flavors: {}\n") is None


def test_signature_diff_names_added_removed_and_retyped_columns() -> None:
    old = parse_mlmodel(MLMODEL)
    new = parse_mlmodel(
        MLMODEL.replace('"long", "name": "hour"', '"double", "name": "hour"').replace(
            '"name": "temp"', '"name": "temperature"'
        )
    )
    diff = diff_signatures(old, new)
    assert diff.added == ["inputs.temperature: double"]
    assert diff.removed == ["inputs.temp: double"]
    assert diff.changed == ["inputs.hour: long -> double"]
    assert diff_signatures(old, old).empty


def test_metrics_named_by_the_manifest_are_shown_and_others_are_capped() -> None:
    metrics = {f"m{i:02d}": float(i) for i in range(MAX_METRICS + 3)}
    assert shown_metrics(metrics, ["m05", "nope", "m01"]) == ({"m05": 5.0, "m01": 1.0}, 0)
    shown, hidden = shown_metrics(metrics, [])
    assert list(shown) == [f"m{i:02d}" for i in range(MAX_METRICS)] and hidden == 3


def test_age_is_measured_against_the_plans_clock_and_never_negative() -> None:
    raw = RawVersion(model="bikes", version=1, status="READY", created_ms=1_700_000_000_000)
    created = datetime.fromtimestamp(1_700_000_000, tz=UTC)
    later = version_evidence(raw, [], created + timedelta(days=3, minutes=5))
    assert later.created_at == "2023-11-14T22:13:20Z"
    assert later.age_seconds == 3 * 86400 + 300
    assert version_evidence(raw, [], created.replace(year=2000)).age_seconds == 0


def test_a_gated_metric_is_judged_as_it_stood_when_the_version_was_registered() -> None:
    raw = RawVersion(model="m", version=1, status="READY", created_ms=10_000,
                     metrics={"rmse": 1.0, "mae": 5.0})  # fmt: skip
    # Two epochs before the registration, then a better value at a huge step after it.
    history = {"rmse": [(140.0, 0, 8_000), (131.2, 1, 9_000), (1.0, 10**9, 20_000)]}
    judged = as_registered(raw, history)
    assert judged.metrics == {"rmse": 131.2, "mae": 5.0}  # the ungated metric is as read
    assert judged.metric_points == {
        "rmse": MetricPoint(step=1, logged_at="1970-01-01T00:00:09Z", later=1)
    }


def test_a_metric_logged_only_after_registration_is_not_there_and_odd_times_do_not_crash() -> None:
    raw = RawVersion(model="m", version=1, status="READY", created_ms=10_000,
                     metrics={"rmse": 1.0})  # fmt: skip
    judged = as_registered(raw, {"rmse": [(1.0, 0, 20_000)]})
    assert judged.metrics == {} and judged.metric_points == {"rmse": MetricPoint(later=1)}
    backdated = as_registered(raw, {"rmse": [(1.0, 5, -(10**18))]})
    assert backdated.metric_points["rmse"].logged_at == f"{-(10**18)} ms"
