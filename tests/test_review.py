"""Evidence and gates against a real server, with versions logged from real runs.

One set of runs is logged once per session (training is the slow part); each test registers
those runs' models as versions of its own model, so tests never share aliases or tags.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.state import AUDIT_TAG_PREFIX
from testing.cli import CliResult, invoke_cli
from testing.runs import log_version

pytestmark = pytest.mark.server

Run = Callable[..., tuple[int, str, str]]
# What each seeded version is: metrics, signature, and the input columns it was trained on.
SEEDS = (
    {"metrics": {"rmse": 110.0, "r2": 0.90, "mae": 50.0}},  # 1: good, signature
    {"metrics": {"rmse": 131.2, "r2": 0.85}, "features": ("temp", "hour", "humidity")},  # 2: bad
    {"metrics": {"rmse": 100.0, "r2": 0.92}, "signature": False},  # 3: good, no signature
    {"metrics": {"rmse": 95.0, "r2": 0.93}},  # 4: best, signature
)
APPROVED = {"validation_status": "approved"}
AFTER_A_WEEK = "2040-01-01T00:00:00Z"  # every seeded version is old enough by then


@pytest.fixture(scope="module")
def seeded_sources(mlflow_server: str) -> list[tuple[str, str]]:
    """(source, run id) of four versions logged from real runs, once for this module."""
    from mlflow import MlflowClient

    name = f"seed{uuid.uuid4().hex[:8]}"
    client = MlflowClient(mlflow_server, mlflow_server)
    sources = []
    for seed in SEEDS:
        version = log_version(mlflow_server, name, **seed)
        found = client.get_model_version(name, str(version))
        assert found.source and found.run_id, found
        sources.append((found.source, found.run_id))
    return sources


@pytest.fixture
def gated_model(server_client, seeded_sources) -> Callable[..., str]:
    """Factory: a new model whose versions 1-4 are the seeded runs' models, tagged as asked."""

    def _make(tags: dict[int, dict[str, str]] | None = None) -> str:
        name = f"bikes{uuid.uuid4().hex[:8]}"
        server_client.create_registered_model(name)
        for number, (source, run_id) in enumerate(seeded_sources, start=1):
            model_id = source.removeprefix("models:/")
            server_client.create_model_version(name, source, run_id=run_id, model_id=model_id)
            for key, value in (tags or {}).get(number, {}).items():
                server_client.set_model_version_tag(name, str(number), key, value)
        return name

    return _make


@pytest.fixture
def run(mlflow_server: str) -> Run:
    """The CLI in-process against the session server, at a pinned time (default: much later)."""

    def _run(*args: str, now: str = AFTER_A_WEEK, env: dict[str, str] | None = None) -> CliResult:
        pinned = {"MLFLOW_GITOPS_NOW": now, **(env or {})}
        return invoke_cli(*args, "--tracking-uri", mlflow_server, env=pinned)

    return _run


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], str]:
    def _write(text: str) -> str:
        path = tmp_path / "registry.yaml"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return _write


@pytest.fixture
def commit(tmp_path: Path) -> Callable[[str], str]:
    """Like write, but each version is a commit: promotes_from trusts an audit tag only when
    the commit it names declared that alias there."""
    from testing.repos import commit_file, make_repo

    repo = make_repo(tmp_path / "repo")

    def _commit(text: str) -> str:
        commit_file(repo, "registry.yaml", text, "manifest")
        return str(tmp_path / "repo" / "registry.yaml")

    return _commit


def plan_json(run: Run, path: str, **kw: str) -> dict:
    code, out, err = run("plan", "-f", path, "--format", "json", **kw)
    assert code in (0, 1), err
    return json.loads(out)


def gates_of(plan: dict, alias: str = "champion") -> dict[str, tuple]:
    (change,) = [c for c in plan["changes"] if c["alias"] == alias]
    return {g["gate"]: (g["passed"], g["expected"], g["actual"]) for g in change["gates"]}


def aliases(client, name: str) -> dict[str, int]:
    return {a: int(v) for a, v in client.get_registered_model(name).aliases.items()}


def manifest(name: str, aliases_yaml: str, gates_yaml: str = "", top: str = "") -> str:
    return f"version: 1\n{top}models:\n  {name}:\n    aliases: {aliases_yaml}\n" + (
        f"    gates:\n{gates_yaml}" if gates_yaml else ""
    )


def test_plan_carries_evidence_for_both_versions_of_an_update(
    run: Run, write, gated_model, server_client, mlflow_server, seeded_sources
) -> None:
    name = gated_model({1: APPROVED})
    server_client.set_registered_model_alias(name, "champion", "1")
    server_client.update_model_version(name, "2", description="adds humidity")
    plan = plan_json(run, write(manifest(name, "{champion: 2}")))

    (change,) = plan["changes"]
    to, was = change["evidence"]["to"], change["evidence"]["from"]
    assert (to["version"], was["version"]) == (2, 1)
    assert to["run_id"] == seeded_sources[1][1]
    assert to["run_url"] == f"{mlflow_server}/#/runs/{seeded_sources[1][1]}"
    assert to["metrics"] == {"r2": 0.85, "rmse": 131.2}  # no gate names any: all of them
    assert was["metrics"] == {"mae": 50.0, "r2": 0.9, "rmse": 110.0}
    assert to["description"] == "adds humidity" and to["status"] == "READY"
    assert was["tags"] == APPROVED and to["tags"] == {}
    assert to["created_at"].endswith("Z") and to["age_seconds"] > 0
    assert to["has_signature"] is True and was["has_signature"] is True
    assert change["evidence"]["signature_diff"] == {
        "added": ["inputs.humidity: double"],
        "removed": [],
        "changed": [],
    }
    assert change["gates"] == [] and plan["errors"] == []


def test_evidence_costs_one_read_per_version_and_per_run_and_only_for_changes(
    run: Run, write, gated_model, server_client, rest_calls
) -> None:
    name = gated_model()
    server_client.set_registered_model_alias(name, "champion", "1")
    server_client.set_registered_model_alias(name, "stable", "3")
    server_client.set_registered_model_alias(name, "challenger", "1")
    # champion 1 -> 2 and challenger 1 -> 2: two distinct versions, two runs; stable unchanged.
    path = write(manifest(name, "{champion: 2, challenger: 2, stable: 3}"))
    rest_calls.clear()
    plan = plan_json(run, path)
    assert len(plan["changes"]) == 2
    endpoints = sorted(
        endpoint.split("/mlflow/", 1)[1] for _, endpoint in rest_calls if "/mlflow/" in endpoint
    )
    downloads = [e for _, e in rest_calls if "/mlflow-artifacts/" in e]
    # The versions search already returned each version's facts (tags, run, creator): no
    # `model-versions/get`. Where a `models:/` source is stored is the registry's to say, asked
    # of its registry client, without MlflowClient's extra model read (its prompt check); of
    # the files, the MLmodel alone, once per version shown. No searched version has a tag, so
    # one version read alone (the newest) tells whether the search leaves tags out: it does not.
    assert all(e.endswith("/MLmodel") for e in downloads), downloads
    assert endpoints == sorted(
        # The declared models, the models this manifest owns (by their record), and their
        # versions.
        ["registered-models/search"] * 2
        + ["model-versions/search"]
        + ["model-versions/get"]
        + ["model-versions/get-download-uri"] * 2
        + ["runs/get"] * 2
    )


def test_metrics_named_by_gates_or_evidence_are_the_ones_shown(
    run: Run, write, gated_model
) -> None:
    name = gated_model()
    text = manifest(name, "{champion: 1}", top="evidence: {metrics: [mae]}\n")
    text += "    gates:\n      champion:\n        metrics: {r2: {min: 0.5}}\n"
    (change,) = plan_json(run, write(text))["changes"]
    assert change["evidence"]["to"]["metrics"] == {"r2": 0.9, "mae": 50.0}


def test_each_gate_passes_on_a_good_version(run: Run, write, gated_model) -> None:
    name = gated_model({4: APPROVED})
    gates = (
        "      champion:\n"
        "        require_tags: {validation_status: approved}\n"
        "        require_signature: true\n"
        "        metrics: {rmse: {max: 120.0}, r2: {min: 0.8}}\n"
        "        better_than_current: {rmse: lower}\n"
        "        min_age: 24h\n"
    )
    plan = plan_json(run, write(manifest(name, "{champion: 4}", gates)))
    assert plan["errors"] == []
    assert gates_of(plan) == {
        "require_tags.validation_status": (True, "= approved", "approved"),
        "require_signature": (True, "present", "present"),
        "metrics.rmse": (True, "max 120.0", 95.0),
        "metrics.r2": (True, "min 0.8", 0.93),
        "better_than_current.rmse": (True, "lower than the current version", 95.0),
        "min_age": (True, "at least 24h", gates_of(plan)["min_age"][2]),
    }


def test_each_gate_fails_with_a_located_plan_error(
    run: Run, write, gated_model, server_client
) -> None:
    name = gated_model({1: APPROVED})
    server_client.set_registered_model_alias(name, "champion", "1")
    gates = (
        "      champion:\n"
        "        require_tags: {validation_status: approved}\n"
        "        require_signature: true\n"
        "        metrics: {rmse: {max: 120.0}, r2: {min: 0.8}, f1: {min: 0.5}}\n"
        "        better_than_current: {rmse: lower}\n"
        "        min_age: 24h\n"
    )
    path = write(manifest(name, "{champion: 2}", gates))
    code, out, _ = run("plan", "-f", path, now="")
    assert code == 1
    where = f"{path}:4:25: {name}@champion -> 2"
    for failure in (
        "tag validation_status is not set, expected = approved",
        "metric rmse 131.2 > max 120.0",
        "metric f1 is missing",
        "metric rmse 131.2 is not lower than 110 of version 1",
    ):
        assert f"{where}: {failure}" in out
    assert re.search(rf"{re.escape(where)}: created \d+m ago, less than min_age 24h", out)
    plan = plan_json(run, path, now="")
    assert gates_of(plan)["metrics.rmse"] == (False, "max 120.0", 131.2)
    assert gates_of(plan)["metrics.r2"] == (True, "min 0.8", 0.85)
    assert gates_of(plan)["require_signature"] == (True, "present", "present")
    assert aliases(server_client, name) == {"champion": 1}
    code, _, _ = run("apply", "--auto-approve", "-f", path)
    assert code == 1 and aliases(server_client, name) == {"champion": 1}


def test_a_version_without_a_signature_fails_require_signature(
    run: Run, write, gated_model
) -> None:
    name = gated_model()
    plan = plan_json(
        run, write(manifest(name, "{champion: 3}", "      champion: {require_signature: true}\n"))
    )
    assert gates_of(plan) == {"require_signature": (False, "present", "missing")}
    assert plan["errors"][0]["message"] == f"{name}@champion -> 3: the MLmodel has no signature"


def test_global_and_model_gates_merge(run: Run, write, gated_model) -> None:
    name = gated_model({2: APPROVED})
    top = "gates:\n  champion:\n    require_tags: {validation_status: approved}\n"
    top += "    metrics: {rmse: {max: 200.0}}\n"
    model_gate = "      champion:\n        metrics: {rmse: {max: 120.0}}\n"
    plan = plan_json(run, write(manifest(name, "{champion: 2}", model_gate, top=top)))
    assert gates_of(plan) == {
        "require_tags.validation_status": (True, "= approved", "approved"),
        "metrics.rmse": (False, "max 120.0", 131.2),  # the model's bound wins over 200.0
    }
    other = gated_model()  # a model without its own gate gets the global one alone
    plan = plan_json(run, write(manifest(other, "{champion: 2}", top=top)))
    assert gates_of(plan) == {
        "require_tags.validation_status": (False, "= approved", None),
        "metrics.rmse": (True, "max 200.0", 131.2),
    }


PROMOTES = "      champion: {promotes_from: challenger}\n"


def test_promotes_from_passes_for_the_version_holding_the_alias(
    run: Run, write, gated_model, server_client
) -> None:
    name = gated_model()
    server_client.set_registered_model_alias(name, "challenger", "4")
    plan = plan_json(run, write(manifest(name, "{champion: 4, challenger: 4}", PROMOTES)))
    assert gates_of(plan) == {"promotes_from": (True, "holds challenger", "holds challenger")}
    plan = plan_json(run, write(manifest(name, "{champion: 3, challenger: 4}", PROMOTES)))
    assert gates_of(plan) == {
        "promotes_from": (False, "holds challenger", "challenger is on version 4")
    }


def test_promotes_from_passes_when_the_plan_moves_a_challenger_the_tool_set(
    run: Run, commit, gated_model, server_client
) -> None:
    name = gated_model()
    assert run("apply", "--auto-approve", "-f", commit(manifest(name, "{challenger: 3}")))[0] == 0
    assert AUDIT_TAG_PREFIX + "challenger" in server_client.get_model_version(name, "3").tags
    # One pull request: champion takes the challenger, challenger moves to the next version.
    path = commit(manifest(name, "{champion: 3, challenger: 4}", PROMOTES))
    plan = plan_json(run, path)
    assert gates_of(plan) == {"promotes_from": (True, "holds challenger", "held challenger")}
    saved = str(Path(path).with_name("plan.json"))
    assert run("plan", "-f", path, "--out", saved)[0] == 0
    code, out, _ = run("apply", "-f", path, "--plan", saved)  # checked again, on fresh data
    assert code == 0, out
    assert aliases(server_client, name) == {"champion": 3, "challenger": 4}


def test_promotes_from_refuses_a_challenger_set_by_hand_that_the_plan_moves_on(
    run: Run, write, gated_model, server_client
) -> None:
    name = gated_model()
    server_client.set_registered_model_alias(name, "challenger", "3")  # a click in the UI
    plan = plan_json(run, write(manifest(name, "{champion: 3, challenger: 4}", PROMOTES)))
    assert gates_of(plan) == {
        "promotes_from": (False, "holds challenger", "challenger was set by hand")
    }


def test_unchanged_aliases_are_not_checked_again(
    run: Run, write, gated_model, server_client
) -> None:
    name = gated_model()
    server_client.set_registered_model_alias(name, "champion", "2")  # fails today's gate
    path = write(
        manifest(
            name,
            "{champion: 2, challenger: 4}",
            "      champion: {metrics: {rmse: {max: 120.0}}}\n",
        )
    )
    plan = plan_json(run, path)
    assert plan["errors"] == []
    assert [c["alias"] for c in plan["changes"]] == ["challenger"]


def test_apply_checks_gates_again_on_fresh_data(
    run: Run, write, gated_model, server_client, tmp_path: Path
) -> None:
    name = gated_model({4: APPROVED})
    gate = "      champion: {require_tags: {validation_status: approved}}\n"
    path = write(manifest(name, "{champion: 4}", gate))
    saved = str(tmp_path / "plan.json")
    code, out, _ = run("plan", "-f", path, "--out", saved)
    assert code == 0, out
    server_client.set_model_version_tag(name, "4", "validation_status", "revoked")

    code, out, _ = run("apply", "-f", path, "--plan", saved)
    assert code == 1
    assert (
        f"gates fail on fresh data; nothing was applied: {name}@champion -> 4: "
        "tag validation_status is 'revoked', expected = approved"
    ) in out
    assert aliases(server_client, name) == {}


FREEZE = 'freeze:\n  - {cron: "0 17 * * 5", duration: 64h, reason: weekend freeze}\n'
SATURDAY = "2026-11-28T12:00:00Z"
TUESDAY = "2026-12-01T12:00:00Z"


def test_apply_refuses_inside_a_freeze_window_and_proceeds_outside(
    run: Run, write, gated_model, server_client
) -> None:
    name = gated_model()
    path = write(manifest(name, "{champion: 1}", top=FREEZE))
    code, out, _ = run("plan", "-f", path, now=SATURDAY)
    assert code == 0  # plan is never frozen, but it tells the reviewer
    assert "\nApply is frozen now: weekend freeze (freeze from 2026-11-27 17:00" in out
    assert "frozen" not in run("plan", "-f", path, now=TUESDAY)[1]
    code, out, _ = run("apply", "--auto-approve", "-f", path, now=SATURDAY)
    assert code == 1
    assert (
        "apply is frozen: weekend freeze (freeze from 2026-11-27 17:00 UTC until "
        "2026-11-30 09:00 UTC); nothing was applied"
    ) in out
    assert aliases(server_client, name) == {}
    code, out, _ = run("apply", "--auto-approve", "-f", path, now=TUESDAY)
    assert code == 0, out
    assert aliases(server_client, name) == {"champion": 1}


def test_overriding_a_freeze_is_recorded_in_the_audit_tag(
    run: Run, write, gated_model, server_client
) -> None:
    name = gated_model()
    path = write(manifest(name, "{champion: 1}", top=FREEZE))
    code, out, err = run("apply", "--auto-approve", "-f", path, "--override-freeze", now=SATURDAY)
    assert code == 1 and "--override-freeze and a non-empty --reason go together" in err
    override = ("--override-freeze", "--reason", "INC-42 hotfix")
    code, out, _ = run(
        "apply", "--auto-approve", "-f", path, *override, now=SATURDAY, env={"GITHUB_ACTOR": "ann"}
    )
    assert code == 0, out
    audit = json.loads(
        server_client.get_model_version(name, "1").tags[AUDIT_TAG_PREFIX + "champion"]
    )
    assert audit["actor"] == "ann"
    assert audit["freeze_override"].startswith("INC-42 hotfix (during weekend freeze")


def test_unmanaged_aliases_can_be_errors_or_deleted(
    run: Run, write, gated_model, server_client
) -> None:
    name = gated_model()
    server_client.set_registered_model_alias(name, "stray", "2")
    path = write(manifest(name, "{champion: 1}", top="unmanaged: error\n"))
    code, out, _ = run("plan", "-f", path)
    assert code == 1
    assert f"{name}@stray -> 2 is set in the registry but not declared (unmanaged: error)" in out
    plan = plan_json(run, write(manifest(name, "{champion: 1}", top="unmanaged: delete\n")))
    assert [(c["alias"], c["action"], c["reason"]) for c in plan["changes"]] == [
        ("champion", "create", "assign"),
        ("stray", "delete", "prune"),
    ]


def test_a_version_without_a_run_takes_its_metrics_from_the_logged_model(
    run: Run, write, server_client, mlflow_server
) -> None:
    import mlflow

    mlflow.set_tracking_uri(mlflow_server)
    logged = mlflow.initialize_logged_model(name="runless")
    mlflow.log_metric("rmse", 99.0, model_id=logged.model_id)
    mlflow.end_run()
    name = f"runless{uuid.uuid4().hex[:8]}"
    server_client.create_registered_model(name)
    server_client.create_model_version(name, f"models:/{logged.model_id}", model_id=logged.model_id)
    gate = "      champion: {metrics: {rmse: {max: 120.0}}}\n"
    plan = plan_json(run, write(manifest(name, "{champion: 1}", gate)))
    (change,) = plan["changes"]
    assert change["evidence"]["to"]["run_id"] is None
    assert change["evidence"]["to"]["metrics"] == {"rmse": 99.0}
    assert gates_of(plan) == {"metrics.rmse": (True, "max 120.0", 99.0)}


def test_text_and_markdown_show_the_evidence_and_the_gates(
    run: Run, write, gated_model, server_client, mlflow_server
) -> None:
    name = gated_model({1: APPROVED})
    server_client.set_registered_model_alias(name, "champion", "1")
    server_client.set_registered_model_alias(name, "shadow", "3")
    gate = "      champion: {metrics: {rmse: {max: 120.0}}}\n"
    path = write(manifest(name, "{champion: 2, shadow: null}", gate))

    code, out, _ = run("plan", "-f", path)
    assert code == 1
    assert "      ✗ metrics.rmse = 131.2 (expected max 120.0)" in out
    assert re.search(r"  to v2: .*READY, run [0-9a-f]{8}, signature yes \(\+inputs.humidity", out)
    assert "from v1: " in out and "tags validation_status=approved" in out

    code, comment, _ = run("plan", "-f", path, "--format", "markdown")
    assert code == 1
    assert comment.startswith(
        f"<!-- mlflow-gitops:plan manifest={path} registry={mlflow_server} -->\n"
    )
    assert f"Registry: `{mlflow_server}` (from `--tracking-uri`)" in comment
    assert "Planned for " in comment
    # The gated metric with the step and time it was judged at (as of the registration).
    assert re.search(
        r"\| `rmse` \| 110 \| 131\.2 \(step 0, [-\d]+ [:\d]+ UTC\) \| \+21\.2 \|", comment
    )
    assert "- ❌ metrics.rmse = 131.2 (expected max 120.0)" in comment
    assert f"> ⚠️ **Deletes `{name}@shadow`** (now 3)" in comment
