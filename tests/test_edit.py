"""Manifest edits change only the intended bytes, and new keys follow the file's own style."""

from __future__ import annotations

import pytest

from controller.edit import set_alias
from controller.errors import EditError
from controller.manifest import CopyFrom, parse_manifest

COMMENTED = """\
# yaml-language-server: $schema=./registry.schema.json
# Which version each alias points to.
version: 1

models:
  # the bike-sharing demand model
  "bikes":
    aliases:
      'champion': 3     # serving: models:/bikes@champion
      challenger: 4   # shadow

    prune: false
  cars:
    aliases: {champion: 7}   # flow style
# trailing comment
"""


def declared(text: str) -> dict[str, dict[str, int | CopyFrom | None]]:
    models = parse_manifest(text, "registry.yaml").manifest.models
    return {name: dict(spec.aliases) for name, spec in models.items()}


def test_changing_an_alias_replaces_only_its_number() -> None:
    after = set_alias(COMMENTED, "bikes", "champion", 5)
    assert after == COMMENTED.replace("'champion': 3 ", "'champion': 5 ")


def test_changing_an_alias_in_flow_style_keeps_the_braces() -> None:
    after = set_alias(COMMENTED, "cars", "champion", 12)
    assert after == COMMENTED.replace("{champion: 7}", "{champion: 12}")


def test_a_longer_number_does_not_eat_the_comment_after_it() -> None:
    after = set_alias(COMMENTED, "bikes", "challenger", 1234)
    assert "challenger: 1234   # shadow\n" in after
    assert declared(after)["bikes"]["challenger"] == 1234


def test_crlf_line_endings_survive_a_change() -> None:
    crlf = COMMENTED.replace("\n", "\r\n")
    after = set_alias(crlf, "bikes", "champion", 5)
    assert after == crlf.replace("'champion': 3 ", "'champion': 5 ")


def test_new_alias_is_added_after_its_siblings_in_block_style() -> None:
    after = set_alias(COMMENTED, "bikes", "shadow", 9)
    assert after == COMMENTED.replace(
        "challenger: 4   # shadow\n", "challenger: 4   # shadow\n      'shadow': 9\n"
    )


def test_new_alias_in_a_flow_mapping_is_added_inside_the_braces() -> None:
    after = set_alias(COMMENTED, "cars", "challenger", 8)
    assert after == COMMENTED.replace("{champion: 7}", "{champion: 7, challenger: 8}")


def test_new_alias_in_an_empty_flow_mapping() -> None:
    text = "version: 1\nmodels:\n  bikes:\n    aliases: {}\n"
    assert set_alias(text, "bikes", "champion", 1) == text.replace("{}", "{champion: 1}")


def test_new_alias_keeps_crlf_line_endings() -> None:
    crlf = COMMENTED.replace("\n", "\r\n")
    after = set_alias(crlf, "bikes", "shadow", 9)
    assert after == crlf.replace("# shadow\r\n", "# shadow\r\n      'shadow': 9\r\n")
    assert "\n" not in after.replace("\r\n", "")


def test_new_model_is_added_at_the_files_indentation() -> None:
    text = "version: 1\nmodels:\n    bikes:\n        aliases:\n            champion: 3\n# end\n"
    after = set_alias(text, "trains", "champion", 2)
    assert after == text.replace(
        "# end\n", "    trains:\n        aliases:\n            champion: 2\n# end\n"
    )


def test_new_model_inside_a_flow_mapping_is_written_in_flow_style() -> None:
    text = "version: 1\nmodels: {bikes: {aliases: {champion: 3}}}\n"
    after = set_alias(text, "cars", "champion", 2)
    assert after == text.replace("}}}", "}}, cars: {aliases: {champion: 2}}}")


def test_model_without_aliases_gains_an_aliases_block() -> None:
    text = "version: 1\nmodels:\n  bikes:\n    prune: true\n"
    after = set_alias(text, "bikes", "champion", 2)
    assert after == text + "    aliases:\n      champion: 2\n"


def test_manifest_without_models_and_without_final_newline() -> None:
    after = set_alias("version: 1", "bikes", "champion", 2)
    assert after == "version: 1\nmodels:\n  bikes:\n    aliases:\n      champion: 2"
    assert declared(after) == {"bikes": {"champion": 2}}


def test_an_empty_value_gets_the_version_after_a_space() -> None:
    text = "version: 1\nmodels:\n  bikes:\n    aliases:\n      champion:   # unset\n"
    after = set_alias(text, "bikes", "champion", 2)
    assert after == text.replace("champion:   #", "champion: 2   #")


def test_null_value_is_replaced() -> None:
    text = "version: 1\nmodels:\n  bikes:\n    aliases:\n      champion: ~\n"
    assert set_alias(text, "bikes", "champion", 2) == text.replace("~", "2")


@pytest.mark.parametrize(
    ("name", "written"),
    [("my-model", "my-model"), ("42", '"42"'), ("true", '"true"'), ("a: b", '"a: b"')],
)
def test_new_model_name_is_quoted_only_when_plain_yaml_would_misread_it(
    name: str, written: str
) -> None:
    text = "version: 1\nmodels:\n  bikes:\n    aliases:\n      champion: 3\n"
    after = set_alias(text, name, "champion", 1)
    assert f"\n  {written}:\n" in after
    assert declared(after)[name] == {"champion": 1}


def test_single_quoted_siblings_give_single_quoted_new_keys() -> None:
    text = "version: 1\nmodels:\n  'bikes':\n    'aliases':\n      'champion': 3\n"
    after = set_alias(text, "o'neil", "champion", 1)
    assert after.endswith("  'o''neil':\n    'aliases':\n      'champion': 1\n")
    assert declared(after)["o'neil"] == {"champion": 1}


def test_a_model_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(EditError, match=r"models\.bikes is not a mapping"):
        set_alias("version: 1\nmodels:\n  bikes: [1, 2]\n", "bikes", "champion", 1)
