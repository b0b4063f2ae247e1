"""MLflow's private names that controller/registry/mlflow_private.py relies on, checked on
the installed MLflow: an upgrade that moves or reshapes one fails here, naming it."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.pyfunc import scoring_server
from mlflow.utils import request_utils

from controller.registry import mlflow_private


def parameters(function: Any) -> list[str]:
    return [name for name in inspect.signature(function).parameters if name != "self"]


def test_mlflow_client_still_hands_out_its_registry_client() -> None:
    assert parameters(MlflowClient._get_registry_client) == []
    registry_client = MlflowClient("http://127.0.0.1:9", "http://127.0.0.1:9")
    found = type(registry_client._get_registry_client())
    expected = {
        "get_model_version_download_uri": ["name", "version"],
        "get_registered_model": ["name"],
        "set_registered_model_alias": ["name", "alias", "version"],
        "delete_registered_model_alias": ["name", "alias"],
        "set_registered_model_tag": ["name", "key", "value"],
        "set_model_version_tag": ["name", "version", "key", "value"],
        "delete_registered_model_tag": ["name", "key"],
    }
    for method, names in expected.items():
        assert parameters(getattr(found, method))[: len(names)] == names, method


def test_the_registry_store_searches_registered_models_as_we_call_it() -> None:
    client = MlflowClient("http://127.0.0.1:9", "http://127.0.0.1:9")
    store = mlflow_private.registry_store(client)
    assert parameters(store.search_registered_models) == [
        "filter_string",
        "max_results",
        "order_by",
        "page_token",
    ]


def test_pinned_credentials_reach_both_stores_of_the_client_and_no_other() -> None:
    """A copy source's client sends its own credentials: its tracking and registry stores
    (the `store` properties pin_credentials replaces) ask our function, not the environment."""
    from mlflow.utils.rest_utils import MlflowHostCreds

    uri = "http://127.0.0.1:9"
    own = MlflowHostCreds(host=uri, token="source-token")
    client = MlflowClient(uri, uri)
    mlflow_private.pin_credentials(client, lambda: own)
    assert client._tracking_client.store.get_host_creds() is own
    assert client._get_registry_client().store.get_host_creds() is own
    other = MlflowClient(uri, uri)  # another client of the same URI keeps MLflow's own
    assert other._tracking_client.store.get_host_creds().token is None


def test_mlflow_builds_its_retry_from_the_module_global_we_replace() -> None:
    # Other tests in this process may already have replaced it with our subclass: judge the
    # urllib3 class it is, or derives from.
    assert inspect.isclass(request_utils.Retry)
    original = next(c for c in request_utils.Retry.__mro__ if c.__module__.startswith("urllib3"))
    assert "retry_after_max" in inspect.signature(original).parameters
    assert "Retry" in request_utils._cached_get_request_session.__wrapped__.__code__.co_names


def test_the_retry_after_cap_reaches_the_sessions_mlflow_makes() -> None:
    probe = (
        "from controller.registry import mlflow_private\n"
        "from mlflow.utils import request_utils\n"
        "mlflow_private.cap_retry_after(5)\n"
        "session = request_utils._get_request_session(2, 1, 0.5, (503,), True, True)\n"
        "print(session.get_adapter('http://host').max_retries.retry_after_max)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "5"


def test_scoring_server_invocations_takes_what_serve_passes() -> None:
    assert parameters(scoring_server.invocations) == [
        "data",
        "content_type",
        "model",
        "input_schema",
    ]


def test_no_other_module_reaches_for_these_private_names() -> None:
    private_attributes = {"_get_registry_client", "Retry", "invocations"}
    private_modules = {"mlflow.utils.request_utils", "mlflow.pyfunc.scoring_server"}
    package = Path(__file__).resolve().parents[1] / "controller"
    for path in package.rglob("*.py"):
        if path.name == "mlflow_private.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in private_attributes:
                owner = node.value
                assert isinstance(owner, ast.Name) and owner.id == "mlflow_private", (
                    f"{path}:{node.lineno}"
                )
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {f"{node.module}.{alias.name}" for alias in node.names}
                assert not ({node.module} | names) & private_modules, f"{path}:{node.lineno}"
