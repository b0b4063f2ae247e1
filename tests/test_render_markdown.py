"""The plan and apply Markdown: what reviewers read in the PR comment and the job summary."""

from __future__ import annotations

from typing import TypeVar

from controller.output import redact
from controller.render import markdown
from controller.render.sanitize import cleaned
from controller.values import (
    ApplyReport,
    Change,
    ChangeEvidence,
    ChangeResult,
    GateResult,
    Plan,
    PlanProblem,
    RegistryRef,
    Summary,
    UnmanagedAlias,
    VersionEvidence,
)

UI = "http://mlflow.internal:5000"
PlanOrReport = TypeVar("PlanOrReport", Plan, ApplyReport)


def change(model: str = "bikes", alias: str = "champion", **kw: object) -> Change:
    fields: dict[str, object] = {
        "action": "update",
        "from_version": 2,
        "to_version": 3,
        "reason": "promote",
    }
    return Change(model=model, alias=alias, **(fields | kw))


def plan_of(*changes: Change, **kw: object) -> Plan:
    summary = Summary(
        create=sum(c.action == "create" for c in changes),
        update=sum(c.action == "update" for c in changes),
        delete=sum(c.action == "delete" for c in changes),
        unchanged=1,
    )
    fields: dict[str, object] = {"manifest_path": "registry.yaml", **kw}
    return Plan(changes=list(changes), summary=summary, **fields)


def at(value: PlanOrReport, registry_uri: str) -> PlanOrReport:
    """The value as the API makes it: naming its registry, credentials redacted."""
    ref = RegistryRef(uri=redact(registry_uri), source="--tracking-uri")
    return value.model_copy(update={"registry": ref})


def test_plan_starts_with_the_hidden_marker_the_workflow_finds_its_comment_by() -> None:
    assert markdown.plan(at(plan_of(change()), UI)).startswith(
        "<!-- mlflow-gitops:plan manifest=registry.yaml registry=http://mlflow.internal:5000 -->\n"
    )


def test_each_manifest_and_registry_has_its_own_marker_without_credentials() -> None:
    first = markdown.marker(at(plan_of(manifest_path="a/registry.yaml"), "https://u:p@ml.example/"))
    second = markdown.marker(at(plan_of(manifest_path="b/registry.yaml"), "https://ml.example"))
    third = markdown.marker(at(plan_of(manifest_path="a/registry.yaml"), "sqlite:///x--y.db"))
    assert (
        first == "<!-- mlflow-gitops:plan manifest=a/registry.yaml registry=https://ml.example -->"
    )
    assert len({first, second, third}) == 3
    assert third.count("--") == 2  # only the comment's own delimiters
    assert "u:p" not in first


def test_summary_line_counts_changes_like_terraform() -> None:
    plan = plan_of(change(), change(alias="shadow", action="delete", to_version=None))
    assert "**Plan: 0 to create, 1 to update, 1 to delete.** 1 unchanged." in (
        markdown.plan(at(plan, UI))
    )


def test_no_changes_says_the_registry_matches() -> None:
    text = markdown.plan(at(plan_of(), UI))
    assert "**No changes.** The registry matches registry.yaml." in text
    assert "| alias |" not in text


def test_each_model_gets_a_table_of_alias_from_to_reason() -> None:
    plan = plan_of(
        change("bikes", "champion"),
        change("cars", "shadow", action="create", from_version=None, to_version=1, reason="assign"),
        change("bikes", "challenger", from_version=4, to_version=3, reason="rollback"),
    )
    text = markdown.plan(at(plan, "sqlite:///mlflow.db"))
    bikes = text.index("#### bikes")
    cars = text.index("#### cars")
    assert bikes < cars
    assert (
        "| alias | from | to | reason |\n| --- | --- | --- | --- |\n"
        "| champion | 2 | 3 | promote |\n| challenger | 4 | 3 | rollback |"
    ) in text[bikes:cars]
    assert "| shadow | — | 1 | assign |" in text[cars:]


def test_versions_link_to_their_page_in_the_mlflow_ui() -> None:
    text = markdown.plan(at(plan_of(change("bike demand")), UI + "/"))
    assert (
        "| [2](http://mlflow.internal:5000/#/models/bike%20demand/versions/2) "
        "| [3](http://mlflow.internal:5000/#/models/bike%20demand/versions/3) |"
    ) in text


def test_links_never_carry_credentials() -> None:
    text = markdown.plan(at(plan_of(change()), "https://bot:hunter2@mlflow.example/ml"))
    assert "hunter2" not in text
    assert "bot" not in text
    assert "(https://mlflow.example/ml/#/models/bikes/versions/3)" in text


def test_registries_without_a_web_ui_get_plain_version_numbers() -> None:
    for uri in ("sqlite:///mlflow.db", "databricks", "file:///tmp/mlruns"):
        assert "](" not in markdown.plan(at(plan_of(change()), uri))


def test_unmanaged_aliases_and_errors_have_their_own_sections() -> None:
    plan = plan_of(
        unmanaged=[UnmanagedAlias(model="bikes", alias="old", version=1)],
        errors=[
            PlanProblem(
                model="bikes",
                alias="champion",
                message="version 9 of model 'bikes' does not exist",
                file="registry.yaml",
                line=7,
                col=17,
            ),
            PlanProblem(model="cars", message="registered model 'cars' does not exist"),
        ],
    )
    text = markdown.plan(at(plan, UI))
    assert "**❌ The plan has 2 errors; nothing will be applied.**" in text
    unmanaged, errors = text.index("#### Unmanaged aliases"), text.index("#### Errors")
    assert "| bikes | old | [1](" in text[unmanaged:errors]
    assert (
        "| registry.yaml:7:17 | bikes | champion | version 9 of model 'bikes' does not exist |"
    ) in text[errors:]
    assert "| — | cars | — | registered model 'cars' does not exist |" in text[errors:]


def test_user_text_cannot_break_the_table_or_inject_html() -> None:
    text = markdown.plan(at(plan_of(change("a|b_<img src=x>")), "sqlite:///x.db"))
    assert "#### a\\|b\\_&lt;img src=x&gt;" in text
    assert "<img" not in text


def test_short_plans_are_not_folded() -> None:
    changes = [change(alias=f"a{i}") for i in range(markdown.FOLD_ROWS)]
    assert "<details>" not in markdown.plan(at(plan_of(*changes), UI))


def test_long_plans_fold_into_details_with_a_summary() -> None:
    changes = [change(f"m{i % 3}", f"a{i}") for i in range(markdown.FOLD_ROWS + 1)]
    text = markdown.plan(at(plan_of(*changes), UI))
    assert "<details>\n<summary>21 changes in 3 models</summary>\n\n#### m0" in text
    assert text.count("</details>") == 1


def test_huge_plans_are_truncated_below_the_comment_limit_with_a_note() -> None:
    changes = [change(f"model-{i}", f"alias{i}") for i in range(3000)]
    text = markdown.plan(at(plan_of(*changes), UI))
    assert len(text) <= markdown.MAX_CHARS
    assert text.startswith(markdown.MARKER_PREFIX)
    assert text.count("<details>") == text.count("</details>") == 1
    assert text.endswith("the text output (as in the workflow log) has every line.")
    assert "**Truncated** from " in text


def test_truncation_cuts_at_a_line_boundary() -> None:
    text = markdown.truncate("\n".join(f"| row {i} |" for i in range(100)), limit=300)
    kept, note = text.split("\n**Truncated**")
    assert len(text) <= 300
    assert all(line.startswith("| row ") and line.endswith(" |") for line in kept.splitlines())
    assert "from 1,089 characters" in note


def test_text_under_the_limit_is_left_alone() -> None:
    assert markdown.truncate("short", limit=5) == "short"


def test_apply_report_shows_each_change_with_its_status() -> None:
    applied = ChangeResult(**change().model_dump(), status="applied")
    failed = ChangeResult(
        **change(alias="shadow").model_dump(), status="failed", error="permission denied"
    )
    report = ApplyReport(changes=[applied, failed], errors=["could not record last-applied"])
    text = markdown.report(at(report, "sqlite:///mlflow.db"))
    assert "**Apply: 1 applied, 1 failed, 0 skipped.**" in text
    assert "| alias | from | to | reason | status |" in text
    assert "| champion | 2 | 3 | promote | ✅ applied |" in text
    assert "| shadow | 2 | 3 | promote | ❌ failed: permission denied |" in text
    assert text.endswith("#### Errors\n\n- could not record last-applied")
    assert markdown.MARKER_PREFIX not in text


def test_apply_with_nothing_to_do_says_so() -> None:
    text = markdown.report(at(ApplyReport(), UI))
    assert "**Nothing to apply.** The registry already matches." in text


def with_evidence(alias: str, *, passed: bool, tags: dict[str, str] | None = None) -> Change:
    """A change with its evidence and one gate result."""
    found = VersionEvidence(version=3, status="READY", tags=tags or {})
    gate = GateResult(gate="min_age", passed=passed, expected="24h", actual="1h", message="")
    return change(alias=alias).model_copy(
        update={"evidence": ChangeEvidence(to_version=found), "gates": [gate]}
    )


def test_metric_names_are_code_spans_shown_as_written() -> None:
    found = VersionEvidence(version=3, status="READY", metrics={"val_rmse": 1.0})
    plan = plan_of(change().model_copy(update={"evidence": ChangeEvidence(to_version=found)}))
    text = markdown.plan(at(plan, UI))
    assert "| `val_rmse` | — | 1 | — |" in text
    assert "val\\_rmse" not in text


def test_the_gate_result_of_each_change_is_in_its_row() -> None:
    text = markdown.plan(
        at(plan_of(with_evidence("a", passed=True), with_evidence("b", passed=False)), UI)
    )
    assert "| alias | from | to | reason | gates |" in text
    assert "| promote | ✅ 1 passed |" in text
    assert "| promote | ❌ 1 of 1 failed |" in text


def test_evidence_that_does_not_fit_leaves_failing_changes_first_and_says_where_the_rest_is() -> (
    None
):
    changes = [with_evidence(f"a{i}", passed=i != 7) for i in range(30)]
    text = markdown.plan(at(plan_of(*changes), UI), limit=6_000, full_plan_url="https://run")
    assert len(text) <= 6_000
    assert all(f"| a{i} | [2](" in text for i in range(30))
    evidence = text.split("#### Evidence")[1]
    assert evidence.index("**bikes@a7**") < evidence.index("**bikes@a0**")
    shown = evidence.count("**bikes@a")
    assert 0 < shown < 30
    assert f"…and the evidence of {30 - shown} more changes, left out to fit" in text
    assert text.endswith("see [the job summary](https://run).")


def test_a_70000_character_tag_is_cut_and_the_gates_stay() -> None:
    plan = plan_of(with_evidence("champion", passed=False, tags={"note": "x" * 70_000}))
    text = markdown.plan(cleaned(at(plan, UI)))
    assert len(text) < 10_000
    assert "(69,500 more)" in text
    assert "- ❌ min\\_age = 1h (expected 24h)" in text


def test_outside_a_workflow_run_the_left_out_evidence_is_in_the_text_output() -> None:
    changes = [with_evidence(f"a{i}", passed=True) for i in range(30)]
    text = markdown.plan(at(plan_of(*changes), UI), limit=6_000)
    assert text.endswith("left out to fit GitHub's comment limit: see the text output.")


def test_a_500_change_comment_has_every_row_and_the_detailed_evidence_within_the_limit() -> None:
    def moved(i: int) -> Change:
        found = with_evidence("champion", passed=i % 50 != 3)
        brief = found.evidence.model_copy(update={"detailed": i < 20}) if found.evidence else None
        return found.model_copy(update={"model": f"bench-{i:05d}", "evidence": brief})

    text = markdown.plan(at(plan_of(*[moved(i) for i in range(500)]), UI))
    assert len(text) < markdown.MAX_CHARS and "Truncated" not in text
    # One table of every change: model, alias, from -> to, reason, gate result.
    assert "| model | alias | from → to | reason | gates |" in text
    assert all(f"| bench-{i:05d} | champion | 2 → 3 | promote |" in text for i in range(500))
    assert "| bench-00003 | champion |" in text and "❌ 1 of 1 failed |" in text
    evidence = text.split("#### Evidence")[1]
    assert evidence.index("**bench-00003@champion**") < evidence.index("**bench-00000@champion**")
    # The 20 detailed first (failing ones first), then the others' facts while they fit.
    shown = evidence.count("@champion**")
    assert 20 < shown < 500
    assert evidence.index("**bench-00019@champion**") < evidence.index("**bench-00020@champion**")
    assert evidence.count("| signature |") == 20
    assert f"…and the evidence of {500 - shown} more changes, left out to fit" in text
    assert "Metrics and signatures are read for the first changes only" in text


def test_a_change_not_detailed_shows_its_facts_in_text_and_claims_no_signature() -> None:
    from controller.render import text

    found = VersionEvidence(version=3, status="READY", run_id="a" * 32, tags={"team": "x"})
    brief = ChangeEvidence(to_version=found, detailed=False)
    line = text.evidence_lines(change().model_copy(update={"evidence": brief}))[0]
    assert line.strip().startswith("to v3:") and "run aaaaaaaa; tags team=x" in line
    assert "signature" not in line and "no metrics" not in line
