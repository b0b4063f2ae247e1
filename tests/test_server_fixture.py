"""Smoke tests proving the real-server fixtures in conftest.py work."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.server


def test_make_model_creates_ready_versions(server_client, make_model) -> None:
    name = make_model(prefix="fixture-", versions=3)

    assert name.startswith("fixture-")
    versions = server_client.search_model_versions(f"name = '{name}'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3]
    assert {v.status for v in versions} == {"READY"}
    assert {v.source for v in versions} == {f"s3://fixtures/{name}/{i}" for i in (1, 2, 3)}


def test_alias_round_trip_via_search(server_client, make_model) -> None:
    name = make_model(versions=2)
    server_client.set_registered_model_alias(name, "champion", 2)

    (model,) = server_client.search_registered_models(filter_string=f"name IN ('{name}')")
    # Over REST alias versions come back as strings, not ints.
    assert model.aliases == {"champion": "2"}
    assert server_client.get_model_version_by_alias(name, "champion").version == "2"
