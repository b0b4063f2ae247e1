"""Evidence and gate results as people read them: text lines and the pull-request comment."""

from __future__ import annotations

from controller.render import markdown, text
from controller.values import (
    Change,
    ChangeEvidence,
    GateResult,
    Plan,
    PlanSource,
    RegistryRef,
    SignatureDiff,
    Summary,
    VersionEvidence,
)

UI = "http://mlflow.internal:5000"


def version(number: int, **facts: object) -> VersionEvidence:
    base = {
        "version": number,
        "status": "READY",
        "created_at": "2026-11-20T09:30:00Z",
        "age_seconds": 3 * 86400 + 3600,
        "creator": "ann",
        "run_id": f"{number}" * 32,
        "run_url": f"{UI}/#/runs/{number}",
        "has_signature": True,
    }
    return VersionEvidence.model_validate(base | facts)


def promotion() -> Change:
    return Change(
        model="bikes",
        alias="champion",
        action="update",
        from_version=3,
        to_version=4,
        reason="promote",
        evidence=ChangeEvidence(
            to_version=version(4, metrics={"rmse": 131.2, "r2": 0.85}, tags={}),
            from_version=version(
                3, metrics={"rmse": 110.0, "r2": 0.9}, tags={"validation_status": "approved"}
            ),
            signature_diff=SignatureDiff(added=["inputs.humidity: double"]),
        ),
        gates=[
            GateResult(gate="metrics.rmse", passed=False, expected="max 120.0", actual=131.2,
                       message="metric rmse 131.2 > max 120.0"),
            GateResult(gate="require_signature", passed=True, expected="present",
                       actual="present", message="the MLmodel has a signature"),
        ],
    )  # fmt: skip


def plan_of(*changes: Change) -> Plan:
    return Plan(
        manifest_path="registry.yaml",
        changes=list(changes),
        summary=Summary.of(list(changes), 0),
        computed_at="2026-11-23T10:30:00Z",
        registry=RegistryRef(uri="https://mlflow.example", source="MLFLOW_TRACKING_URI"),
        source=PlanSource(
            registry="https://mlflow.example",
            manifest_path="registry.yaml",
            manifest_sha256="0" * 64,
            commit="0123456789abcdef",
            dirty=False,
        ),
    )


def test_text_shows_a_line_per_version_and_a_mark_per_gate() -> None:
    lines = text.plan(plan_of(promotion())).splitlines()
    start = lines.index("  ~ bikes@champion: 3 -> 4 (promote)")
    assert lines[start + 1 : start + 5] == [
        "        to v4: 2026-11-20 09:30 UTC (3d 1h old) by ann, READY, run 44444444, "
        "signature yes (+inputs.humidity: double); rmse=131.2 r2=0.85; tags none",
        "      from v3: 2026-11-20 09:30 UTC (3d 1h old) by ann, READY, run 33333333, "
        "signature yes; rmse=110 r2=0.9; tags validation_status=approved",
        "      ✗ metrics.rmse = 131.2 (expected max 120.0)",
        "      ✓ require_signature = present (expected present)",
    ]


def test_markdown_compares_metric_by_metric_with_the_difference() -> None:
    comment = markdown.plan(plan_of(promotion()))
    assert "|  | current | proposed | Δ |" in comment
    assert "| `rmse` | 110 | 131.2 | +21.2 |" in comment
    assert "| `r2` | 0.9 | 0.85 | -0.05 |" in comment
    assert f"| run | [33333333]({UI}/#/runs/3) | [44444444]({UI}/#/runs/4) |  |" in comment
    assert "| tags | validation\\_status=approved | none |  |" in comment
    assert "| signature | yes | yes | +inputs.humidity: double |" in comment
    assert "- ❌ metrics.rmse = 131.2 (expected max 120.0)" in comment
    assert "- ✅ require\\_signature = present (expected present)" in comment


def test_markdown_header_names_the_registry_and_the_commit() -> None:
    comment = markdown.plan(plan_of(promotion()))
    assert "Registry: `https://mlflow.example` (from `MLFLOW_TRACKING_URI`)" in comment
    assert "Planned for commit `0123456789ab`, at 2026-11-23T10:30:00Z." in comment
    assert "secret" not in comment


def test_markdown_warns_on_every_alias_deletion() -> None:
    deletion = Change(model="bikes", alias="shadow", action="delete", from_version=2,
                      to_version=None, reason="removed")  # fmt: skip
    comment = markdown.plan(plan_of(promotion(), deletion))
    assert (
        "> ⚠️ **Deletes `bikes@shadow`** (now 2): anything loading `models:/bikes@shadow` will fail."
    ) in comment
    assert "Deletes" not in markdown.plan(plan_of(promotion()))


def test_a_first_assignment_has_no_current_column_values() -> None:
    change = promotion().model_copy(
        update={
            "action": "create",
            "from_version": None,
            "evidence": ChangeEvidence(to_version=version(4, metrics={"rmse": 95.0})),
            "gates": [],
        }
    )
    comment = markdown.plan(plan_of(change))
    assert "| `rmse` | — | 95 | — |" in comment
    assert "Gates:" not in comment
    assert [line for line in text.plan(plan_of(change)).splitlines() if "from v" in line] == []


def test_an_open_freeze_window_is_announced_to_the_reviewer() -> None:
    frozen = plan_of(promotion()).model_copy(update={"frozen": "weekend freeze (until Monday)"})
    assert "> 🧊 **Apply is frozen now**: weekend freeze (until Monday)." in markdown.plan(frozen)
    assert "\nApply is frozen now: weekend freeze (until Monday).\n" in text.plan(frozen)
    assert "frozen" not in markdown.plan(plan_of(promotion()))
