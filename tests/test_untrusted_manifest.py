"""Issue 8: every row of the attack table, through the real CLI in a subprocess.

Each hostile manifest must end in one clear line per problem and exit 1: never `internal
error`, a traceback, a hang or a memory blow-up. The rows that used to write to the registry
run `apply` against the real server, and the registry is read afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.manifest import MAX_DEPTH, MAX_NODES
from controller.policy import MAX_ALIAS_LENGTH
from controller.state import AUDIT_TAG_PREFIX, LAST_APPLIED_TAG, audit_tag_key
from testing.cli import run_cli
from testing.peak import MEASURED

ROOT = Path(__file__).resolve().parents[1]
HEAD = "version: 1\nmodels:\n  bikes:\n    aliases:\n"
MEMORY_LIMIT_MB = 200


def cli(*args: str, cwd: Path) -> tuple[int, str, str, float]:
    """Run `python -m controller ARGS`; return exit code, stdout, stderr and peak memory (MB)."""
    proc = run_cli(*args, cwd=cwd, entry=("-c", MEASURED))
    err, _, peak = proc.stderr.rpartition("peak-kib=")
    return proc.returncode, proc.stdout, err, int(peak) / 1024


def refused(tmp_path: Path, content: str | bytes) -> list[str]:
    """Validate CONTENT as registry.yaml; assert the clean failure; return the output lines."""
    path = tmp_path / "registry.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    code, out, err, peak_mb = cli("validate", cwd=tmp_path)
    text = out + err
    assert code == 1, text
    assert "Traceback" not in text and "internal error" not in text, text
    assert peak_mb < MEMORY_LIMIT_MB
    return text.splitlines()


def alias_bomb() -> str:
    """The 294-byte billion-laughs document from the issue: 9**7 leaves if expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefg":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_its_first_anchor_without_expanding(tmp_path: Path) -> None:
    assert len(alias_bomb().encode()) < 400
    lines = refused(tmp_path, alias_bomb())
    assert "registry.yaml:1:4: anchors (&a) are not allowed: write each value out in full" in lines
    assert "registry.yaml:2:8: aliases (*a) are not allowed: write the value itself" in lines


def test_fifty_megabytes_of_comments_are_refused_before_parsing(tmp_path: Path) -> None:
    comment = "# " + "x" * 77 + "\n"
    content = comment * (50 * 1024 * 1024 // len(comment))
    assert refused(tmp_path, content) == [
        "registry.yaml:1:1: the manifest is larger than the 4 MiB limit"
    ]


def test_ten_thousand_open_brackets_hit_the_nesting_limit(tmp_path: Path) -> None:
    (line,) = refused(tmp_path, "[" * 10_000)
    assert line.startswith("registry.yaml:1:")
    assert line.endswith(f"nested deeper than {MAX_DEPTH} levels (the limit)")


def test_deep_block_nesting_stops_at_the_limit_with_its_location(tmp_path: Path) -> None:
    content = "".join("  " * depth + f"k{depth}:\n" for depth in range(40))
    assert refused(tmp_path, content) == [
        f"registry.yaml:{MAX_DEPTH + 1}:{2 * MAX_DEPTH + 1}: "
        f"nested deeper than {MAX_DEPTH} levels (the limit)"
    ]


def test_too_many_nodes_are_refused_within_the_memory_limit(tmp_path: Path) -> None:
    (line,) = refused(tmp_path, "[" + "a," * (MAX_NODES + 10) + "]")
    assert line.endswith(f"more than {MAX_NODES:,} YAML nodes (the limit)")


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("version: 1\nmodels:\n" + "".join(f"  m{i}: x\n" for i in range(150_000)),
                     id="many-broken-models"),
        pytest.param(HEAD + "".join(f"      a.{i}: 0{i}\n" for i in range(100_000)),
                     id="many-broken-aliases"),
        pytest.param("- [a, b]\n" * 60_000, id="many-small-lists"),
    ],
)  # fmt: skip
def test_many_problems_stop_at_the_report_cap_within_the_memory_limit(
    tmp_path: Path, content: str
) -> None:
    lines = refused(tmp_path, content)
    assert len(lines) <= 101


def test_python_tags_are_refused_at_their_location(tmp_path: Path) -> None:
    assert refused(tmp_path, HEAD + "      champion: !!python/name:os.system\n") == [
        "registry.yaml:5:17: explicit tags (!!python/name:os.system) are not allowed: "
        "write the value plainly"
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("010", "write 10 or 8: leading zeros are ambiguous"),
        ("09", "write 9: leading zeros are not allowed"),
        ("0x3", "write 3: a version is a plain decimal number (got 0x3)"),
        ("0b11", "write 3: a version is a plain decimal number (got 0b11)"),
        ("0o3", "write 3: a version is a plain decimal number (got 0o3)"),
        ("1_0", "write 10: a version is a plain decimal number (got 1_0)"),
        ("1:0", "a version is a plain number like 3, or null to delete the alias; got 1:0"),
        ("+3", "write 3: a version is a plain decimal number (got +3)"),
        ('!!int "3"', "explicit tags (!!int) are not allowed: write the value plainly"),
        ("~", "write null to delete the alias (got ~)"),
        ("Null", "write null to delete the alias (got Null)"),
    ],
)
def test_versions_other_than_plain_decimals_say_what_to_write(
    tmp_path: Path, value: str, message: str
) -> None:
    assert refused(tmp_path, HEAD + f"      champion: {value}\n") == [
        f"registry.yaml:5:17: {message}"
    ]


def test_an_empty_version_says_to_write_null(tmp_path: Path) -> None:
    assert refused(tmp_path, HEAD + "      champion:\n") == [
        "registry.yaml:5:16: empty value: write null to delete the alias, or a version number"
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("version: 1.0\nmodels: {}\n", "registry.yaml:1:10: write version: 1 (got 1.0)"),
        ("version: true\nmodels: {}\n", "registry.yaml:1:10: write version: 1 (got true)"),
        (HEAD + "      a: 1\n    prune: 'yes'\n",
         "registry.yaml:6:12: prune must be true or false, got 'yes'"),
        (HEAD + "      a: 1\n    prune: 1\n",
         "registry.yaml:6:12: prune must be true or false, got 1"),
        (HEAD + "      a: 1\n    prune: yes\n",
         "registry.yaml:6:12: prune must be true or false, got yes"),
    ],
)  # fmt: skip
def test_version_and_prune_accept_only_their_literals(
    tmp_path: Path, content: str, expected: str
) -> None:
    assert refused(tmp_path, content) == [expected]


GATED = "version: 1\nmodels:\n  bikes:\n    aliases: {champion: 1}\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (HEAD + "      a: 1\n    take_over: yes\n",
         "registry.yaml:6:16: take_over must be true or false, got yes"),
        (HEAD + "      a: 1\n    take_over: \"1\"\n",
         "registry.yaml:6:16: take_over must be true or false, got '1'"),
        (HEAD + "      a: 1\n    take_over: True\n",
         "registry.yaml:6:16: take_over must be true or false, got True"),
        (GATED + "gates:\n  champion: {require_signature: on}\n",
         "registry.yaml:6:33: require_signature must be true or false, got on"),
        (GATED + "gates:\n  champion: {metrics: {rmse: {max: '60'}}}\n",
         "registry.yaml:6:36: max must be a number, without quotes; got '60'"),
        (GATED + "gates:\n  champion: {metrics: {rmse: {max: .nan}}}\n",
         "registry.yaml:6:36: max must be a number, got .nan"),
    ],
)  # fmt: skip
def test_booleans_and_bounds_are_strict_wherever_they_are(
    tmp_path: Path, content: str, expected: str
) -> None:
    assert refused(tmp_path, content) == [expected]


def test_every_kind_of_problem_is_reported_in_one_pass(tmp_path: Path) -> None:
    content = (
        "version: 1\n"
        "models:\n"
        "  bikes:\n"
        "    aliases: {champion: 1}\n"
        "    gates: {champion: {promotes_from: challenger}}\n"
        "    prune: true\n"
        "    unmanaged: note\n"
        "release: [bikes]\n"
    )
    assert refused(tmp_path, content) == [
        "registry.yaml:5:39: gate for bikes@champion: promotes_from 'challenger' names an "
        "alias model 'bikes' does not declare",
        "registry.yaml:6:5: model 'bikes': prune: true contradicts unmanaged: note; remove prune",
        "registry.yaml:8:11: model 'bikes' is both declared under models and listed under release",
    ]


def test_an_alias_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path, HEAD + '      "champion\\n": 1\n') == [
        "registry.yaml:5:7: alias 'champion\\n' may only contain ASCII letters, digits, '_' and '-'"
    ]


@pytest.mark.parametrize("length", [MAX_ALIAS_LENGTH + 1, 1000])
def test_aliases_longer_than_mlflow_allows_are_refused(tmp_path: Path, length: int) -> None:
    assert refused(tmp_path, HEAD + f"      {'a' * length}: 1\n") == [
        f"registry.yaml:5:7: alias name is {length} characters long; MLflow allows at most 255"
    ]


def test_control_characters_are_reported_at_their_line_and_column(tmp_path: Path) -> None:
    content = HEAD + "      champion: 1\x00\n      challenger: \x1b2\n"
    assert refused(tmp_path, content) == [
        "registry.yaml:5:18: character U+0000 is not allowed in YAML",
        "registry.yaml:6:19: character U+001B is not allowed in YAML",
    ]


def test_bytes_that_are_not_utf8_are_located(tmp_path: Path) -> None:
    assert refused(tmp_path, HEAD.encode() + b"      champion: \xff\n") == [
        "registry.yaml:5:17: not UTF-8 text"
    ]


def test_a_thousand_models_validate(tmp_path: Path) -> None:
    """The speed itself is a benchmark figure; here, that the big manifest is fine."""
    body = "".join(
        f"  model-{i}:\n    aliases:\n      champion: {i + 1}\n      shadow: null\n"
        for i in range(1000)
    )
    (tmp_path / "registry.yaml").write_text(f"version: 1\nmodels:\n{body}", encoding="utf-8")
    code, out, err, _ = cli("validate", cwd=tmp_path)
    assert (code, out.strip(), err) == (0, "registry.yaml: valid (1000 models)", "")


# The rows that used to reach the registry: apply must refuse and write nothing.
@pytest.mark.server
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("champion:", "5:16: empty value: write null to delete the alias, or a version number"),
        ("champion: ~", "5:17: write null to delete the alias (got ~)"),
        ("champion: 010", "5:17: write 10 or 8: leading zeros are ambiguous"),
        ('"champion\\n": 2',
         "5:7: alias 'champion\\n' may only contain ASCII letters, digits, '_' and '-'"),
        (f"{'c' * 256}: 2", "5:7: alias name is 256 characters long; MLflow allows at most 255"),
    ],
)  # fmt: skip
def test_hostile_rows_write_nothing_to_the_registry(
    tmp_path: Path, mlflow_server: str, make_model, server_client, line: str, expected: str
) -> None:
    name = make_model("hostile")
    server_client.set_registered_model_alias(name, "champion", "1")
    manifest = f"version: 1\nmodels:\n  {name}:\n    aliases:\n      {line}\n"
    (tmp_path / "registry.yaml").write_text(manifest, encoding="utf-8")
    code, out, err, _ = cli(
        "apply", "--auto-approve", "--tracking-uri", mlflow_server, cwd=tmp_path
    )
    assert (code, out, err) == (1, "", f"registry.yaml:{expected}\n")
    model = server_client.get_registered_model(name)
    assert {a: int(v) for a, v in model.aliases.items()} == {"champion": 1}
    assert LAST_APPLIED_TAG not in model.tags


@pytest.mark.server
def test_the_longest_accepted_alias_applies_and_is_audited(
    tmp_path: Path, mlflow_server: str, make_model, server_client
) -> None:
    name = make_model("longest")
    alias = "a" * MAX_ALIAS_LENGTH
    manifest = f"version: 1\nmodels:\n  {name}:\n    aliases:\n      {alias}: 2\n"
    (tmp_path / "registry.yaml").write_text(manifest, encoding="utf-8")
    code, out, err, _ = cli(
        "apply", "--auto-approve", "--tracking-uri", mlflow_server, cwd=tmp_path
    )
    assert code == 0, out + err
    assert {a: int(v) for a, v in server_client.get_registered_model(name).aliases.items()} == {
        alias: 2
    }
    # 255 characters do not fit MLflow's 250-character tag keys: the key ends in a digest, and
    # the value names the alias in full.
    key = audit_tag_key(alias)
    assert len(key) <= 250 and key.startswith(AUDIT_TAG_PREFIX)
    audit = json.loads(server_client.get_model_version(name, "2").tags[key])
    assert (audit["alias"], audit["from"]) == (alias, None)
