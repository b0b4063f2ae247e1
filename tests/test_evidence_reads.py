"""Evidence reads that scale (issue 22), against a real server: what each plan and apply asks
of the registry, counted per endpoint, and what the reviewer is shown from it.

The versions search already carries every version's tags, run, creator and times, on SQLite
and on PostgreSQL (`make test-postgres` runs this file there too): no version is read again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.review import DETAILED_CHANGES
from testing.cli import CliResult, invoke_cli
from testing.proxy import FORWARD, fault_proxy

pytestmark = pytest.mark.server

NOW = "2040-01-01T00:00:00Z"
SEARCH_VERSIONS = "/api/2.0/mlflow/model-versions/search"
MLMODEL = (
    "signature:\n"
    '  inputs: \'[{"type": "double", "name": "temp"}]\'\n'
    '  outputs: \'[{"type": "double"}]\'\n'
)


def endpoints(calls: list[tuple[str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, endpoint in calls:
        # REST endpoints by name; an artifact download (the MLmodel file) as one kind.
        name = endpoint.split("/mlflow/", 1)[1] if "/mlflow/" in endpoint else "artifact"
        counts[name] = counts.get(name, 0) + 1
    return counts


def cli(uri: str, *args: str, env: dict[str, str] | None = None) -> CliResult:
    return invoke_cli(*args, "--tracking-uri", uri, env={"MLFLOW_GITOPS_NOW": NOW, **(env or {})})


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], str]:
    def _write(text: str) -> str:
        path = tmp_path / "registry.yaml"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return _write


@pytest.fixture
def run_versions(server_client) -> Callable[..., list[str]]:
    """Factory: models whose versions 1 and 2 come from runs of one experiment, each with an
    rmse and a source under its run's artifacts (`<experiment>/<run>/artifacts/model`)."""
    experiment = server_client.create_experiment(f"evidence-{uuid.uuid4().hex[:8]}")

    def _make(count: int, tags: dict[str, str] | None = None, mlmodel: bool = False) -> list[str]:
        names = []
        for _ in range(count):
            name = f"runs{uuid.uuid4().hex[:8]}"
            server_client.create_registered_model(name)
            for rmse in (2.0, 1.0):
                run = server_client.create_run(experiment)
                server_client.log_metric(run.info.run_id, "rmse", rmse)
                if mlmodel:
                    server_client.log_text(run.info.run_id, MLMODEL, "model/MLmodel")
                server_client.create_model_version(
                    name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id
                )
            for key, value in (tags or {}).items():
                server_client.set_model_version_tag(name, "2", key, value)
            server_client.set_registered_model_alias(name, "champion", "1")
            names.append(name)
        return names

    return _make


def manifest(names: list[str], gates: str = "") -> str:
    lines = ["version: 1", "models:"]
    for name in names:
        lines += [f"  {name}:", "    aliases: {champion: 2}"]
        if gates:
            lines += ["    gates:", f"      champion: {gates}"]
    return "\n".join(lines) + "\n"


def test_version_facts_come_from_the_search_and_runs_from_one_search_per_experiment(
    mlflow_server: str, write, run_versions, rest_calls
) -> None:
    names = run_versions(3, tags={"validation_status": "approved"})
    rest_calls.clear()
    result = cli(mlflow_server, "plan", "-f", write(manifest(names)), "--format", "json")
    assert result.code == 0, result.err
    changes = json.loads(result.out)["changes"]
    assert all(c["evidence"]["to"]["tags"] == {"validation_status": "approved"} for c in changes)
    assert [c["evidence"]["to"]["metrics"] for c in changes] == [{"rmse": 1.0}] * 3
    assert [c["evidence"]["from"]["metrics"] for c in changes] == [{"rmse": 2.0}] * 3
    counts = endpoints(rest_calls)
    # Tags came back with the search: no version is read again, and no probe is needed.
    assert "model-versions/get" not in counts
    # Six runs of one experiment: one search, not six `runs/get`.
    assert counts.get("runs/search") == 1 and "runs/get" not in counts
    # The sources name where the MLmodel is: no download URI is asked for.
    assert "model-versions/get-download-uri" not in counts


def test_a_search_that_leaves_tags_out_is_detected_once_and_gated_versions_read_alone(
    mlflow_server: str, write, run_versions
) -> None:
    names = run_versions(2, tags={"validation_status": "approved"})
    gated = manifest(names, gates="{require_tags: {validation_status: approved}}")

    def no_tags(reply: bytes) -> bytes:
        data = json.loads(reply)
        for version in data.get("model_versions", []):
            version.pop("tags", None)
        return json.dumps(data).encode()

    with fault_proxy(mlflow_server) as proxy:
        proxy.add(FORWARD, method="GET", path=SEARCH_VERSIONS, rewrite=no_tags)
        result = cli(proxy.url, "plan", "-f", write(gated), "--format", "json")
        reads = proxy.count("GET", "/model-versions/get")
        reads -= proxy.count("GET", "/model-versions/get-download-uri")
    assert result.code == 0, result.out + result.err
    plan = json.loads(result.out)
    assert plan["errors"] == []
    assert all(g["passed"] for c in plan["changes"] for g in c["gates"])
    # No searched version shows a tag: one read alone (the newest gated one) shows that the
    # search left them out, then each gated change's two versions are read alone.
    assert reads == 1 + 2 * len(names)


def test_only_the_first_changes_are_detailed_and_the_rest_carry_their_facts(
    mlflow_server: str, write, run_versions, rest_calls
) -> None:
    names = run_versions(DETAILED_CHANGES + 2)
    rest_calls.clear()
    result = cli(mlflow_server, "plan", "-f", write(manifest(names)), "--format", "json")
    assert result.code == 0, result.err
    changes = json.loads(result.out)["changes"]
    detailed = [c for c in changes if c["evidence"]["detailed"]]
    assert len(detailed) == DETAILED_CHANGES
    rest = [c for c in changes if not c["evidence"]["detailed"]]
    assert [c["evidence"]["to"]["metrics"] for c in rest] == [{}, {}]
    assert all(c["evidence"]["to"]["run_id"] and c["evidence"]["to"]["created_at"] for c in rest)
    # The detailed changes' runs, in one search (of one experiment; fewer than 100 runs).
    assert endpoints(rest_calls)["runs/search"] == 1


def test_apply_reads_no_evidence_without_gates(
    mlflow_server: str, write, run_versions, server_client, rest_calls
) -> None:
    names = run_versions(3)
    rest_calls.clear()
    result = cli(mlflow_server, "apply", "-f", write(manifest(names)), "--auto-approve")
    assert result.code == 0, result.out + result.err
    counts = endpoints(rest_calls)
    for evidence in ("model-versions/get", "model-versions/get-download-uri", "runs/get"):
        assert evidence not in counts
    assert "runs/search" not in counts
    assert all(server_client.get_registered_model(n).aliases == {"champion": "2"} for n in names)


def test_apply_reads_what_a_metric_gate_needs_and_no_more(
    mlflow_server: str, write, run_versions, server_client, rest_calls
) -> None:
    names = run_versions(2)
    rest_calls.clear()
    path = write(manifest(names, gates="{metrics: {rmse: {max: 1.5}}}"))
    result = cli(mlflow_server, "apply", "-f", path, "--auto-approve")
    assert result.code == 0, result.out + result.err
    counts = endpoints(rest_calls)
    # The proposed versions' runs (one search) and their rmse as logged (one history each);
    # no MLmodel and nothing of the replaced versions: no gate reads them.
    assert counts["runs/search"] == 1
    assert counts["metrics/get-history"] == len(names)
    assert "model-versions/get-download-uri" not in counts
    assert all(server_client.get_registered_model(n).aliases == {"champion": "2"} for n in names)


def test_a_first_apply_records_each_model_in_one_write_and_the_next_plan_finds_it_owned(
    mlflow_server: str, tmp_path: Path, run_versions, server_client, rest_calls
) -> None:
    names = run_versions(3)
    path = tmp_path / "registry.yaml"
    path.write_text("name: adopters\n" + manifest(names), encoding="utf-8")
    rest_calls.clear()
    result = cli(mlflow_server, "apply", "-f", str(path), "--auto-approve")
    assert result.code == 0, result.out + result.err
    # One record per model (its owner inside), one alias write and one audit tag per change.
    counts = endpoints(rest_calls)
    assert counts["registered-models/set-tag"] == len(names)
    assert counts["registered-models/alias"] == len(names)
    for name in names:
        tags = server_client.get_registered_model(name).tags
        assert "mlflow-gitops.owner" not in tags
        assert json.loads(tags["mlflow-gitops.last-applied"])["owner"] == "adopters"
    # The owner search finds them by their record: dropping one makes its alias a removal,
    # which (applied from no commit here) git cannot confirm, so the plan says so.
    path.write_text("name: adopters\n" + manifest(names[1:]), encoding="utf-8")
    plan = json.loads(cli(mlflow_server, "plan", "-f", str(path), "--format", "json").out)
    assert [e["model"] for e in plan["errors"]] == [names[0]]
    assert "mlflow-gitops.last-applied" in plan["errors"][0]["message"]


def test_the_record_search_keeps_only_the_exact_owner_whatever_its_characters(
    mlflow_server: str, server_client
) -> None:
    from controller.registry import Registry
    from controller.state import LAST_APPLIED_TAG, LastApplied
    from controller.target import RegistryTarget

    odd = "team 'a' 100%_é\\x"
    near = "team 'a' 100%_é\\y"  # matches the same LIKE pattern: the caller drops it
    models = {}
    for owner in (odd, near, odd.upper()):
        name = f"owned{uuid.uuid4().hex[:8]}"
        server_client.create_registered_model(name)
        record = LastApplied(aliases={}, owner=owner).to_tags()[LAST_APPLIED_TAG]
        server_client.set_registered_model_tag(name, LAST_APPLIED_TAG, record)
        models[owner] = name
    registry = Registry(RegistryTarget(mlflow_server, mlflow_server))
    owned = registry.read_owned(odd)
    assert models[odd] in owned and owned[models[odd]].owner == odd
    assert models[near] not in owned and models[odd.upper()] not in owned
    assert registry.owner_in_record


def test_signatures_shown_are_cached_across_runs_and_a_gate_reads_its_own_afresh(
    mlflow_server: str, write, run_versions, rest_calls, tmp_path: Path
) -> None:
    names = run_versions(2, mlmodel=True)
    cache = {"MLFLOW_GITOPS_CACHE_DIR": str(tmp_path / "cache")}
    path = write(manifest(names))

    def planned(manifest_path: str) -> tuple[list[dict], int]:
        rest_calls.clear()
        result = cli(mlflow_server, "plan", "-f", manifest_path, "--format", "json", env=cache)
        assert result.code == 0, result.out + result.err
        return json.loads(result.out)["changes"], endpoints(rest_calls).get("artifact", 0)

    first, downloads = planned(path)
    assert downloads == 2 * len(names)
    assert all(c["evidence"]["to"]["signature"]["inputs"][0]["name"] == "temp" for c in first)
    again, downloads = planned(path)
    assert downloads == 0 and again == first
    # A require_signature gate judges only what it reads now: the proposed versions' files.
    gated, downloads = planned(write(manifest(names, gates="{require_signature: true}")))
    assert downloads == len(names)
    assert all(g["passed"] for c in gated for g in c["gates"])
    # A cache entry that is not one this tool wrote is a miss, never an error.
    for entry in (tmp_path / "cache" / "signatures").iterdir():
        entry.write_text("{not json", encoding="utf-8")
    _, downloads = planned(path)
    assert downloads == 2 * len(names)


def test_runs_whose_source_names_no_experiment_are_searched_by_the_experiment_kept_last_time(
    mlflow_server: str, write, server_client, rest_calls, tmp_path: Path
) -> None:
    """An `s3://` (or MLflow 3 `models:/m-…`) source does not say its run's experiment: the
    first plan reads each run alone and keeps its experiment; the next searches them at once.
    A wrong or foreign cache entry only costs the reads alone again."""
    experiment = server_client.create_experiment(f"kept-{uuid.uuid4().hex[:8]}")
    names = []
    for _ in range(3):
        name = f"kept{uuid.uuid4().hex[:8]}"
        server_client.create_registered_model(name)
        for rmse in (2.0, 1.0):
            run = server_client.create_run(experiment)
            server_client.log_metric(run.info.run_id, "rmse", rmse)
            server_client.create_model_version(
                name, f"s3://fixtures/{name}/{rmse}", run_id=run.info.run_id
            )
        server_client.set_registered_model_alias(name, "champion", "1")
        names.append(name)
    cache = {"MLFLOW_GITOPS_CACHE_DIR": str(tmp_path / "cache")}
    path = write(manifest(names, gates="{metrics: {rmse: {max: 1.5}}}"))

    def planned() -> tuple[list[dict], dict[str, int]]:
        rest_calls.clear()
        result = cli(mlflow_server, "plan", "-f", path, "--format", "json", env=cache)
        assert result.code == 0, result.out + result.err
        return json.loads(result.out)["changes"], endpoints(rest_calls)

    first, counts = planned()
    runs = 2 * len(names)  # both versions of each change are shown in detail
    assert counts.get("runs/get") == runs and "runs/search" not in counts
    assert all(g["passed"] for c in first for g in c["gates"])
    again, counts = planned()
    # One search per round of evidence: the runs the gates judge, then the ones only shown.
    assert counts.get("runs/search") == 2 and "runs/get" not in counts
    assert again == first
    # Entries naming another experiment: the search does not return those runs; read alone.
    [kept] = (tmp_path / "cache" / "experiments").iterdir()
    wrong = dict.fromkeys(json.loads(kept.read_text(encoding="utf-8")), "0")
    kept.write_text(json.dumps(wrong), encoding="utf-8")
    third, counts = planned()
    assert counts.get("runs/get") == runs and third == first
    kept.write_text("{not json", encoding="utf-8")
    fourth, counts = planned()
    assert counts.get("runs/get") == runs and fourth == first
