"""Limits the backend store enforces: PostgreSQL keeps MLflow's 5,000-character tag values."""

from __future__ import annotations

import json

import pytest

from controller.cli import main
from controller.state import LAST_APPLIED_TAG, TAG_VALUE_LIMIT, LastApplied, audit_tag_key
from testing.repos import commit_file, make_repo

pytestmark = pytest.mark.server


def long_alias(i: int) -> str:
    return f"a{i:02d}" + "x" * 252  # 255 characters, MLflow's longest alias


def test_postgres_rejects_a_tag_value_over_5000_characters(
    mlflow_backend: str, server_client, make_model
) -> None:
    if mlflow_backend != "postgres":
        pytest.skip("SQLite does not enforce VARCHAR lengths; run with the PostgreSQL backend")
    name = make_model(versions=1)

    with pytest.raises(Exception, match="too long"):
        server_client.set_registered_model_tag(name, "probe", "x" * (TAG_VALUE_LIMIT + 1))


def test_twenty_aliases_of_255_characters_record_last_applied(
    tmp_path, capsys, mlflow_server: str, server_client, make_model
) -> None:
    name = make_model(versions=2)
    declared = {long_alias(i): 1 + i % 2 for i in range(20)}
    repo = make_repo(tmp_path / "repo")
    manifest = tmp_path / "repo" / "registry.yaml"
    lines = "".join(f"      {alias}: {version}\n" for alias, version in declared.items())
    text = f"version: 1\nmodels:\n  {name}:\n    aliases:\n{lines}"
    commit_file(repo, "registry.yaml", text, "declare")

    assert (
        main(["apply", "--auto-approve", "-f", str(manifest), "--tracking-uri", mlflow_server]) == 0
    ), capsys

    tags = server_client.get_registered_model(name).tags
    record = LastApplied.from_tags(tags)
    assert record is not None and record.aliases == declared
    assert len(json.dumps(declared)) > TAG_VALUE_LIMIT  # the reason it had to be split
    assert LAST_APPLIED_TAG in tags
    audit = server_client.get_model_version(name, "2").tags[audit_tag_key(long_alias(1))]
    assert json.loads(audit)["alias"] == long_alias(1)

    # Plan reads it back: dropping one alias from the manifest deletes it (a commit applied it).
    dropped = long_alias(0)
    commit_file(repo, "registry.yaml", text.replace(f"      {dropped}: 1\n", ""), "drop one")
    capsys.readouterr()
    assert main(
        ["plan", "-f", str(manifest), "--tracking-uri", mlflow_server, "--format", "json"]
    ) in (0, 2)
    plan = json.loads(capsys.readouterr().out)
    assert [(c["alias"], c["action"]) for c in plan["changes"]] == [(dropped, "delete")]
