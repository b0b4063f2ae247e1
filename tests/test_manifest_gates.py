"""Gate, freeze, evidence and unmanaged-alias syntax: checked offline, each problem at its place."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from controller.errors import ManifestError
from controller.manifest import parse_manifest
from controller.policy import Gate, MetricBounds, PromotesFrom, TagPattern
from testing.cli import run_cli

GATED = """\
version: 1
gates:
  champion:
    require_tags: {validation_status: approved, owner: {pattern: "team-.*"}}
    require_signature: true
    promotes_from: challenger
    metrics: {rmse: {max: 150.0}}
models:
  bikes:
    aliases: {champion: 4, challenger: 5}
    gates:
      champion:
        metrics: {rmse: {max: 120.0}, r2: {min: 0.8}}
        better_than_current: {rmse: lower}
        min_age: 24h
freeze:
  - {cron: "0 17 * * 5", duration: 64h, reason: weekend freeze}
evidence: {metrics: [rmse, r2, mae]}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, "registry.yaml")
    return [str(p) for p in caught.value.problems]


def test_model_gate_merges_over_the_global_gate_key_by_key() -> None:
    manifest = parse_manifest(GATED, "registry.yaml").manifest
    gate = manifest.gate_for("bikes", "champion")
    assert gate == Gate(
        require_tags={"validation_status": "approved", "owner": TagPattern(pattern="team-.*")},
        require_signature=True,
        promotes_from="challenger",
        metrics={"rmse": MetricBounds(max=120.0), "r2": MetricBounds(min=0.8)},
        better_than_current={"rmse": "lower"},
        min_age="24h",
    )
    assert manifest.gate_for("bikes", "challenger") is None


def test_a_model_gate_can_switch_a_global_requirement_off() -> None:
    text = GATED.replace(
        "        min_age: 24h\n", "        min_age: 24h\n        require_signature: false\n"
    )
    gate = parse_manifest(text, "registry.yaml").manifest.gate_for("bikes", "champion")
    assert gate is not None and gate.require_signature is False


def test_promotes_from_null_switches_the_global_one_off_for_one_model() -> None:
    """As docs/gates.md shows: a model with no challenger sets its champion directly."""
    text = GATED.replace(
        "        min_age: 24h\n", "        min_age: 24h\n        promotes_from: null\n"
    )
    loaded = parse_manifest(text, "registry.yaml")
    assert loaded.warnings == []
    gate = loaded.manifest.gate_for("bikes", "champion")
    assert gate is not None and gate.promotes_from is None
    assert gate.require_signature is True  # the rest of the global gate still holds
    assert loaded.manifest.gates["champion"].promotes_from is not None


def test_bad_gate_syntax_is_reported_at_each_place() -> None:
    text = """\
version: 1
gates:
  champion:
    require_tags: {owner: {pattern: "("}, team: 5}
    min_age: 24x
    frobnicate: true
models:
  bikes:
    aliases: {champion: 4}
    gates:
      champion:
        metrics: {rmse: {}}
        better_than_current: {rmse: smaller}
freeze:
  - {cron: "0 17 * * FRI", duration: 64h, reason: weekend}
  - {cron: "0 17 * * 5", duration: "6 4h", reason: weekend}
  - {cron: "0 9 * * 1", duration: 1h, reason: standup, timezone: Europe/Berlinn}
"""
    assert problems(text) == [
        "registry.yaml:4:37: malformed regular expression '(': missing ), unterminated "
        "subpattern at position 0",
        "registry.yaml:4:49: gates.champion.require_tags.team: input should be a valid string",
        "registry.yaml:5:14: malformed duration '24x': use a number with d, h, m or s, "
        "e.g. 24h or 90s",
        "registry.yaml:6:5: unknown gate 'frobnicate' (known: require_tags, require_signature, "
        "promotes_from, metrics, better_than_current, min_age, on_rollback)",
        "registry.yaml:12:25: a metric gate needs min, max or both",
        "registry.yaml:13:37: models.bikes.gates.champion.better_than_current.rmse: input "
        "should be 'lower' or 'higher'",
        "registry.yaml:15:12: malformed cron expression '0 17 * * FRI': day of week 'FRI' is "
        "not a number, range, list or step",
        "registry.yaml:16:36: malformed duration '6 4h': use a number with d, h, m or s, "
        "e.g. 24h or 90s",
        "registry.yaml:17:66: unknown time zone 'Europe/Berlinn': use an IANA name such as "
        "Europe/Berlin",
    ]


def test_promotes_from_must_name_an_alias_the_model_declares() -> None:
    text = GATED.replace("models:\n", "models:\n  cars:\n    aliases: {champion: 1}\n")
    assert problems(text) == [
        "registry.yaml:6:20: gate for cars@champion: promotes_from 'challenger' names an alias "
        "model 'cars' does not declare"
    ]


SOAKED = """\
version: 1
models:
  bikes:
    aliases: {champion: 4, challenger: 5}
    gates:
      champion:
        promotes_from: {alias: challenger, soak: 1m30s}
"""


def test_promotes_from_takes_a_mapping_with_a_soak_in_seconds() -> None:
    gate = parse_manifest(SOAKED, "registry.yaml").manifest.gate_for("bikes", "champion")
    assert gate is not None
    assert gate.promotes_from == PromotesFrom(alias="challenger", soak=timedelta(seconds=90))
    assert gate.model_dump(mode="json")["promotes_from"] == {"alias": "challenger", "soak": "1m30s"}


def test_the_string_form_of_promotes_from_is_the_mapping_with_only_an_alias() -> None:
    text = SOAKED.replace("{alias: challenger, soak: 1m30s}", "challenger")
    gate = parse_manifest(text, "registry.yaml").manifest.gate_for("bikes", "champion")
    assert gate is not None
    assert gate.promotes_from == PromotesFrom(alias="challenger")
    assert gate.model_dump(mode="json")["promotes_from"] == "challenger"


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("{alias: challenger, soak: 1.5h}", "7:50: malformed duration '1.5h'"),
        ("{alias: challenger, soak: 24}", "7:50: malformed duration '24'"),
        ("{soak: 24h}", "7:24: missing required key 'alias'"),
        ("{alias: challenger, sok: 24h}", "7:44: unknown key 'sok'"),
        ("{alias: latest}", "7:32: alias 'latest' is reserved by MLflow"),
        ("latest", "7:24: alias 'latest' is reserved by MLflow"),
        ("{alias: shadow, soak: 1h}", "7:32: gate for bikes@champion: promotes_from 'shadow'"),
        (
            "{alias: champion, source: staging}",
            "7:50: gate for bikes@champion: promotes_from.source 'staging' is not declared "
            "under sources",
        ),
    ],
)
def test_a_bad_promotes_from_is_reported_where_it_stands(written: str, problem: str) -> None:
    text = SOAKED.replace("{alias: challenger, soak: 1m30s}", written)
    [found] = problems(text)
    assert found.startswith("registry.yaml:" + problem), found


@pytest.mark.parametrize("policy", ["note", "error", "delete"])
def test_unmanaged_policy_is_global_with_a_per_model_override(policy: str) -> None:
    text = (
        f"version: 1\nunmanaged: {policy}\nmodels:\n  a:\n    aliases: {{x: 1}}\n"
        "  b:\n    unmanaged: error\n    aliases: {x: 1}\n  c:\n    prune: true\n"
    )
    manifest = parse_manifest(text, "registry.yaml").manifest
    assert manifest.unmanaged_policy("a") == policy
    assert manifest.unmanaged_policy("b") == "error"
    assert manifest.unmanaged_policy("c") == "delete"


def test_unknown_unmanaged_policy_is_refused() -> None:
    assert problems("version: 1\nunmanaged: ignore\nmodels: {}\n") == [
        "registry.yaml:2:12: unmanaged: input should be 'note', 'error' or 'delete'"
    ]


def test_validate_command_reports_gate_problems_in_one_line_each(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(GATED.replace("min_age: 24h", "min_age: soon"), encoding="utf-8")
    result = run_cli("validate", "-f", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        f"{path}:15:18: malformed duration 'soon': use a number with d, h, m or s, "
        "e.g. 24h or 90s\n"
    )
    assert "Traceback" not in result.stdout + result.stderr
