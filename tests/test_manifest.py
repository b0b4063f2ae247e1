"""The manifest loader: every problem reported at its FILE:LINE:COL, before any network call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.errors import ManifestError
from controller.manifest import json_schema, load_manifest, parse_manifest

ROOT = Path(__file__).resolve().parents[1]


def problems(text: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, "registry.yaml")
    return [str(p) for p in caught.value.problems]


def test_valid_manifest_loads_with_declared_order_and_nulls() -> None:
    loaded = parse_manifest(
        "version: 1\nmodels:\n  bikes:\n    aliases:\n      champion: 3\n"
        "      challenger: 4\n      shadow: null\n    prune: true\n",
        "registry.yaml",
    )
    spec = loaded.manifest.models["bikes"]
    assert list(spec.aliases.items()) == [("champion", 3), ("challenger", 4), ("shadow", None)]
    assert spec.prune is True
    assert loaded.value_location("models", "bikes", "aliases", "challenger") == (6, 19)


def test_unparsable_yaml_points_at_the_problem() -> None:
    assert problems("version: 1\nmodels:\n  bikes: [\n") == [
        "registry.yaml:4:1: invalid YAML: did not find expected node content"
    ]


def test_duplicate_keys_are_reported_at_every_level() -> None:
    text = (
        "version: 1\nversion: 1\nmodels:\n  bikes:\n    aliases:\n      champion: 1\n"
        "      champion: 2\n  bikes:\n    aliases: {}\n"
    )
    assert problems(text) == [
        "registry.yaml:2:1: duplicate key 'version' (first defined on line 1)",
        "registry.yaml:7:7: duplicate key 'champion' (first defined on line 6)",
        "registry.yaml:8:3: duplicate key 'bikes' (first defined on line 4)",
    ]


def test_unknown_keys_are_rejected_where_they_stand() -> None:
    text = "version: 1\nowner: me\nmodels:\n  bikes:\n    aliases: {}\n    stage: Production\n"
    assert problems(text) == [
        "registry.yaml:2:1: unknown key 'owner'",
        "registry.yaml:6:5: unknown key 'stage'",
    ]


def test_missing_version_is_an_error() -> None:
    assert problems("models: {}\n") == ["registry.yaml:1:1: missing required key 'version'"]


def test_unsupported_version_names_the_supported_one() -> None:
    assert problems("version: 2\nmodels: {}\n") == [
        "registry.yaml:1:10: unsupported manifest version 2 (supported: 1)"
    ]


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("latest", "alias 'latest' is reserved by MLflow"),
        ("LaTeSt", "alias 'LaTeSt' is reserved by MLflow"),
        ("v3", "alias 'v3' is reserved by MLflow (v<digits> names a version)"),
        ("V12", "alias 'V12' is reserved by MLflow (v<digits> names a version)"),
        ("'has space'", "alias 'has space' may only contain ASCII letters, digits, '_' and '-'"),
        ("'dot.ted'", "alias 'dot.ted' may only contain ASCII letters, digits, '_' and '-'"),
        ("a" * 256, "alias name is 256 characters long; MLflow allows at most 255"),
    ],
)
def test_alias_names_mlflow_would_reject(alias: str, message: str) -> None:
    text = f"version: 1\nmodels:\n  bikes:\n    aliases:\n      {alias}: 1\n"
    assert problems(text) == [f"registry.yaml:5:7: {message}"]


def test_allowed_alias_names_pass() -> None:
    names = ["champion", "a-b_c", "v1x", "version2", "Latest1", "a" * 255]
    text = "version: 1\nmodels:\n  m:\n    aliases:\n" + "".join(f"      {n}: 1\n" for n in names)
    assert list(parse_manifest(text, "r.yaml").manifest.models["m"].aliases) == names


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"4"', "write 4 without quotes (got '4')"),
        ("4.0", "write 4: a version is a plain decimal number (got 4.0)"),
        ("true", "a version is a plain number like 3, or null to delete the alias; got true"),
        ("0", "versions start at 1: write a version number, or null to delete the alias"),
        ("-2", "versions start at 1 (got -2): write a version number, or null"),
        ("[1]", "version must be a positive integer or null, got list ['1']"),
    ],
)
def test_versions_must_be_positive_integers(value: str, message: str) -> None:
    text = f"version: 1\nmodels:\n  bikes:\n    aliases:\n      champion: {value}\n"
    assert problems(text) == [f"registry.yaml:5:17: {message}"]


def test_empty_model_name_is_an_error() -> None:
    assert problems('version: 1\nmodels:\n  "":\n    aliases: {}\n') == [
        "registry.yaml:3:3: model name must not be empty"
    ]


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = "version: 1\nmodels:\n  bikes:\n    aliases:\n      latest: 0\n      ok: x\n"
    assert len(problems(text)) == 3


def test_aliases_differing_only_in_case_warn_but_load() -> None:
    loaded = parse_manifest(
        "version: 1\nmodels:\n  m:\n    aliases:\n      Champion: 1\n      champion: 2\n", "r.yaml"
    )
    assert [str(w) for w in loaded.warnings] == [
        "r.yaml:6:7: warning: aliases 'Champion' and 'champion' of model 'm' differ only in "
        "case; MLflow treats them as two aliases"
    ]
    assert loaded.manifest.models["m"].aliases == {"Champion": 1, "champion": 2}


@pytest.mark.parametrize(
    "prune, instead", [("true", "write unmanaged: delete"), ("false", "remove it (the default)")]
)
def test_prune_is_the_deprecated_spelling_of_unmanaged_delete(prune: str, instead: str) -> None:
    loaded = parse_manifest(
        f"version: 1\nmodels:\n  m:\n    aliases:\n      a: 1\n    prune: {prune}\n", "r.yaml"
    )
    assert [str(w) for w in loaded.warnings] == [
        f"r.yaml:6:5: warning: model 'm': prune is deprecated: {instead}"
    ]
    assert loaded.manifest.unmanaged_policy("m") == ("delete" if prune == "true" else "note")


def test_prune_contradicting_unmanaged_is_an_error() -> None:
    text = "version: 1\nmodels:\n  m:\n    prune: true\n    unmanaged: note\n"
    assert problems(text) == [
        "registry.yaml:4:5: model 'm': prune: true contradicts unmanaged: note; remove prune"
    ]


def test_numeric_looking_model_names_stay_strings() -> None:
    loaded = parse_manifest("version: 1\nmodels:\n  007:\n    aliases: {}\n", "r.yaml")
    assert list(loaded.manifest.models) == ["007"]


def test_missing_file_is_one_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path / "nope.yaml")
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'nope.yaml'}:1:1: no such file"
    ]


def test_shipped_schema_is_up_to_date() -> None:
    shipped = json.loads((ROOT / "registry.schema.json").read_text())
    assert shipped == json_schema()


def test_example_manifest_is_valid() -> None:
    loaded = load_manifest(ROOT / "registry.yaml")
    assert "bikes" in loaded.manifest.models


def test_deleting_many_aliases_needs_no_room_in_last_applied() -> None:
    names = [f"{i:04d}" + "a" * 226 for i in range(420)]
    lines = "".join(f"      {n}: null\n" for n in names)
    text = "version: 1\nmodels:\n  m:\n    aliases:\n" + lines
    assert len(parse_manifest(text, "r.yaml").manifest.models["m"].aliases) == 420


def test_keys_named_like_pydantics_key_marker_are_reported_plainly() -> None:
    """Pydantic ends a key's own error location with "[key]"; a key of that name is no such."""
    assert problems("'[key]': 1\n") == [
        "registry.yaml:1:1: missing required key 'version'",
        "registry.yaml:1:1: unknown key '[key]'",
    ]
    assert problems("version: 1\nmodels:\n  m:\n    aliases:\n      '[key]': 1\n") == [
        "registry.yaml:5:7: alias '[key]' may only contain ASCII letters, digits, '_' and '-'"
    ]
