"""AliasedModel follows its alias on the real server: promotions and rollbacks by `apply`,
broken versions, and the webhook signature MLflow's server sends."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from controller import serving, webhooks
from controller.cli import main
from controller.errors import ServingError
from controller.serving import AliasedModel
from controller.webhooks import signature_is_valid
from testing.models import log_broken_version, log_label_version
from testing.waiting import wait_until

ROW = pd.DataFrame({"x": [7.0]})


@pytest.fixture
def labelled_model(server_client, mlflow_server: str) -> Callable[..., str]:
    """Factory: a new registered model whose versions predict 1000*label + x, label = version."""

    def _make(versions: int = 2) -> str:
        name = f"served{uuid.uuid4().hex[:8]}"
        server_client.create_registered_model(name)
        for label in range(1, versions + 1):
            log_label_version(mlflow_server, name, float(label))
        return name

    return _make


def apply_champion(manifest: Path, url: str, name: str, version: int | str) -> None:
    manifest.write_text(
        f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: {version}\n",
        encoding="utf-8",
    )
    assert main(["apply", "--auto-approve", "-f", str(manifest), "--tracking-uri", url]) == 0


def served_by(prediction: float) -> int:
    return int(prediction // 1000)


@pytest.mark.server
def test_four_threads_never_fail_while_apply_promotes_and_rolls_back(
    labelled_model, mlflow_server: str, tmp_path: Path
) -> None:
    """1,000+ predictions from 4 threads while `apply` moves champion 1 -> 2 -> 1."""
    name = labelled_model()
    manifest = tmp_path / "registry.yaml"
    apply_champion(manifest, mlflow_server, name, 1)
    seen: list[int] = []  # the version behind each prediction, in order
    # the versions behind predictions that started after the rollback was visible
    started_after_rollback: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()
    rolled_back = threading.Event()
    polls_per_switch: list[int] = []

    with AliasedModel(f"models:/{name}@champion", 0.2, tracking_uri=mlflow_server) as served:

        def keep_predicting() -> None:
            while not stop.is_set() or len(seen) < 1000:
                try:
                    late = rolled_back.is_set()
                    versions = [served_by(p) for p in served.predict(ROW)]
                    seen.extend(versions)
                    if late:
                        started_after_rollback.extend(versions)
                except BaseException as exc:
                    failures.append(exc)
                    return

        threads = [threading.Thread(target=keep_predicting) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            for version in (2, 1):

                def predicted_more(before: int = len(seen)) -> bool:
                    return len(seen) >= before + 100

                def serving(wanted: str = str(version)) -> bool:
                    return served.version == wanted

                wait_until(predicted_more, "predictions before a switch")
                apply_champion(manifest, mlflow_server, name, version)
                checks_at_apply = served.checks
                wait_until(serving, f"version {version}")
                polls_per_switch.append(served.checks - checks_at_apply)
            rolled_back.set()
            wait_until(lambda: len(started_after_rollback) >= 100, "predictions after rollback")
        finally:
            stop.set()
            for thread in threads:
                thread.join()

    assert failures == []
    assert len(seen) >= 1000
    assert set(seen) == {1, 2}, "every prediction came from version 1 or 2, and both answered"
    assert all(polls <= 2 for polls in polls_per_switch), polls_per_switch
    switches = sum(1 for before, after in itertools.pairwise(seen) if before != after)
    assert switches >= 2
    # A prediction in flight at the swap may finish on the old model, however late;
    # every prediction that started once the rollback was visible is version 1's.
    assert len(started_after_rollback) >= 100 and set(started_after_rollback) == {1}
    assert served.version == "1" and list(served.predict(ROW)) == [1007.0]


@pytest.mark.server
def test_a_check_with_no_move_is_one_registry_call_and_no_download(
    labelled_model, server_client, mlflow_server: str, rest_calls
) -> None:
    name = labelled_model(versions=1)
    server_client.set_registered_model_alias(name, "champion", "1")
    with AliasedModel(f"{name}@champion", 300, tracking_uri=mlflow_server) as served:
        rest_calls.clear()
        for _ in range(5):
            assert served.refresh() == "1"
        assert rest_calls == [("GET", "/api/2.0/mlflow/registered-models/alias")] * 5
        assert served.checks == 5 and served.last_checked is not None


@pytest.mark.server
def test_a_version_with_broken_artifacts_is_never_swapped_in(
    labelled_model, server_client, mlflow_server: str
) -> None:
    name = labelled_model()
    broken = log_broken_version(mlflow_server, name)
    server_client.set_registered_model_alias(name, "champion", "1")
    with AliasedModel(f"models:/{name}@champion", 300, tracking_uri=mlflow_server) as served:
        server_client.set_registered_model_alias(name, "champion", broken)
        for _ in range(2):  # a failed load is retried on the next check, and fails again
            assert served.refresh() == "1"
            assert f"version {broken} failed to load" in (served.last_error or "")
            assert list(served.predict(ROW)) == [1007.0]
        assert served.model_uri == f"models:/{name}/1"

        server_client.set_registered_model_alias(name, "champion", "2")
        assert served.refresh() == "2"
        assert served.last_error is None
        assert list(served.predict(ROW)) == [2007.0]


@pytest.mark.server
def test_a_deleted_alias_keeps_the_current_version_serving(
    labelled_model, server_client, mlflow_server: str
) -> None:
    name = labelled_model(versions=1)
    server_client.set_registered_model_alias(name, "champion", "1")
    with AliasedModel(f"models:/{name}@champion", 300, tracking_uri=mlflow_server) as served:
        server_client.delete_registered_model_alias(name, "champion")
        assert served.refresh() == "1"
        assert served.last_error
        assert list(served.predict(ROW)) == [1007.0]


@pytest.mark.server
def test_a_missing_alias_cannot_be_served(labelled_model, mlflow_server: str) -> None:
    name = labelled_model(versions=1)
    with pytest.raises(ServingError, match=f"cannot serve {name}@champion"):
        AliasedModel(f"models:/{name}@champion", 300, tracking_uri=mlflow_server)


@pytest.mark.parametrize("uri", ["bikes", "models:/bikes/2", "models:/bikes@", "@champion"])
def test_only_model_at_alias_uris_are_accepted(uri: str) -> None:
    with pytest.raises(ServingError, match="is not MODEL@ALIAS"):
        serving.parse_aliased_uri(uri)


def mlflow_signed(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Headers exactly as MLflow's webhook delivery signs them."""
    from mlflow.webhooks.delivery import _generate_hmac_signature

    delivery = str(uuid.uuid4())
    return {
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": str(timestamp),
        "X-MLflow-Signature": _generate_hmac_signature(
            secret, delivery, str(timestamp), body.decode()
        ),
    }


def test_mlflow_signed_webhooks_verify_and_tampered_ones_do_not() -> None:
    body = b'{"entity": "model_version_alias", "action": "created"}'
    now = int(time.time())
    headers = mlflow_signed("s3cret", body, now)
    assert signature_is_valid("s3cret", headers, body)
    assert not signature_is_valid("other", headers, body)
    assert not signature_is_valid("s3cret", headers, body + b" ")
    assert not signature_is_valid("s3cret", {**headers, "X-MLflow-Signature": ""}, body)
    unsigned = {k: v for k, v in headers.items() if k != "X-MLflow-Signature"}
    assert not signature_is_valid("s3cret", unsigned, body)


def test_a_replayed_webhook_outside_the_tolerance_is_rejected() -> None:
    body = b"{}"
    old = int(time.time()) - webhooks.WEBHOOK_TOLERANCE_S - 5
    assert not signature_is_valid("s3cret", mlflow_signed("s3cret", body, old), body)


def test_only_events_for_the_served_alias_trigger_a_refresh() -> None:
    def event(action: str, name: str = "bikes", alias: str = "champion") -> dict[str, object]:
        data = {"name": name, "alias": alias}
        return {"entity": "model_version_alias", "action": action, "data": data}

    assert webhooks.concerns(event("created"), "bikes", "champion")
    assert webhooks.concerns(event("deleted"), "bikes", "champion")
    assert not webhooks.concerns(event("created", alias="challenger"), "bikes", "champion")
    assert not webhooks.concerns(event("created", name="cars"), "bikes", "champion")
    other_entity = {**event("created"), "entity": "model_version"}
    assert not webhooks.concerns(other_entity, "bikes", "champion")
    assert not webhooks.concerns(["not", "a", "dict"], "bikes", "champion")


def test_a_delivery_id_counts_once_within_the_window_and_memory_stays_bounded() -> None:
    recent = webhooks.RecentDeliveries(limit=3)
    now = 1_000_000.0
    assert recent.first_time("d-1", int(now), now)
    assert not recent.first_time("d-1", int(now), now + 1)  # the same call, replayed
    later = now + webhooks.WEBHOOK_TOLERANCE_S + 1  # d-1's timestamp is refused by then anyway
    assert recent.first_time("d-1", int(later), later)
    for delivery in ("d-2", "d-3"):
        assert recent.first_time(delivery, int(later), later)
    assert not recent.first_time("d-3", int(later), later)
    # A fourth id within the window: the oldest (d-1) makes way, so the memory stays at 3.
    assert recent.first_time("d-4", int(later), later)
    assert recent.first_time("d-1", int(later), later)


def test_signature_headers_are_judged_before_any_body_is_read() -> None:
    now = int(time.time())
    headers = mlflow_signed("s3cret", b"{}", now)
    assert webhooks.signed_headers(headers) is not None
    for broken in (
        {**headers, "X-MLflow-Signature": "v2,abc"},
        {**headers, "X-MLflow-Timestamp": "soon"},
        {**headers, "X-MLflow-Timestamp": str(now - webhooks.WEBHOOK_TOLERANCE_S - 5)},
        {**headers, "X-MLflow-Delivery-Id": "x" * (webhooks.MAX_DELIVERY_ID_CHARS + 1)},
        {k: v for k, v in headers.items() if k != "X-MLflow-Delivery-Id"},
    ):
        assert webhooks.signed_headers(broken) is None
