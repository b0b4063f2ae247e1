"""deploy/: the Kubernetes manifests are valid offline against the bundled Kubernetes schemas,
agree with each other and with the Dockerfile, and wire credentials only from Secrets.

No cluster runs here: `kubernetes-validate` carries the API's JSON schemas (strict: an unknown
or misspelt field fails). The ServiceMonitor is a CRD with no bundled schema, so its references
are checked against the Service instead.
"""

from __future__ import annotations

import base64
import copy
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import kubernetes_validate
import pytest
import yaml

from controller.cli import cli
from testing.dockerfile import env_pairs, read_stages

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
# The oldest Kubernetes still commonly run, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
SECRET_LIKE = ("TOKEN", "PASSWORD", "SECRET")


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text(encoding="utf-8")) if doc]


def one(name: str, kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in documents(name) if doc["kind"] == kind]
    return found


RESOURCES = {
    path.name: documents(path.name)
    for path in sorted(DEPLOY.glob("*.yaml"))
    if path.name != "kustomization.yaml"
}
DEPLOYMENT = one("deployment.yaml", "Deployment")
POD = DEPLOYMENT["spec"]["template"]["spec"]
(CONTAINER,) = POD["containers"]
SERVICE = one("service.yaml", "Service")
MONITOR = one("servicemonitor.yaml", "ServiceMonitor")
RUNTIME = read_stages()[-1]


def ids(value: object) -> str:
    return str(value)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", RESOURCES, ids=ids)
def test_every_resource_is_valid_against_the_kubernetes_schema(name: str, version: str) -> None:
    for resource in RESOURCES[name]:
        if (resource["apiVersion"], resource["kind"]) in CRDS:
            continue
        kubernetes_validate.validate(resource, version, strict=True)


def test_the_validator_refuses_a_misspelt_field_so_the_check_above_can_fail() -> None:
    broken = copy.deepcopy(DEPLOYMENT)
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_resource_but_the_example_secret() -> None:
    kustomization = documents("kustomization.yaml")[0]

    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(set(RESOURCES) - {"secret.example.yaml"})


def test_one_replica_replaced_never_rolled_so_two_controllers_never_overlap() -> None:
    assert DEPLOYMENT["spec"]["replicas"] == 1
    assert DEPLOYMENT["spec"]["strategy"] == {"type": "Recreate"}


def flag(name: str) -> str:
    args: list[str] = CONTAINER["args"]
    return args[args.index(name) + 1]


def test_the_container_runs_the_controller_listening_on_its_declared_port() -> None:
    assert CONTAINER["args"][0] == "controller"
    assert "command" not in CONTAINER, "the image's ENTRYPOINT (mlflow-gitops) runs"
    host, _, port = flag("--listen").rpartition(":")
    assert host == "0.0.0.0", "probes and scrapes come from outside the container"
    (declared,) = CONTAINER["ports"]
    assert declared == {"name": "http", "containerPort": int(port), "protocol": "TCP"}
    assert RUNTIME.all("EXPOSE") == [port]


def test_the_container_arguments_are_ones_the_controller_command_accepts() -> None:
    command = cli.commands[CONTAINER["args"][0]]
    with click.Context(command) as context:
        params = command.parse_args(context, list(CONTAINER["args"][1:]))
    assert not params, f"left over: {params}"
    assert context.params["listen"] == flag("--listen")
    assert str(context.params["state_dir"]) == flag("--state-dir")


def test_the_image_default_command_is_one_the_controller_command_accepts() -> None:
    args = RUNTIME.exec_form("CMD")
    command = cli.commands[args[0]]
    with click.Context(command) as context:
        command.parse_args(context, [*args[1:], "--repo", "file:///srv/registry.git"])
    assert context.params["listen"] == flag("--listen")


def test_probes_ask_the_controller_endpoints_on_the_listening_port() -> None:
    probes = {
        kind: CONTAINER[kind]["httpGet"]
        for kind in ("livenessProbe", "readinessProbe", "startupProbe")
    }

    assert probes["livenessProbe"] == {"path": "/healthz", "port": "http"}
    assert probes["readinessProbe"] == {"path": "/readyz", "port": "http"}
    assert probes["startupProbe"] == {"path": "/healthz", "port": "http"}


def test_the_root_filesystem_is_read_only_and_the_state_dir_and_tmp_are_empty_dirs() -> None:
    security = CONTAINER["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    empty_dirs = {volume["name"] for volume in POD["volumes"] if "emptyDir" in volume}
    mounts = {mount["mountPath"]: mount["name"] for mount in CONTAINER["volumeMounts"]}
    assert set(mounts.values()) <= empty_dirs
    writable = [path for path in mounts if flag("--state-dir").startswith(path + "/")]
    assert writable, "the state dir must be on a volume"
    assert "/tmp" in mounts
    home = env_pairs(" ".join(RUNTIME.all("ENV")))["HOME"]
    assert home in mounts, "HOME (git's and MLflow's files) must be writable"


def test_the_pod_runs_as_the_image_non_root_user() -> None:
    pod_security = POD["securityContext"]
    uid, _, gid = RUNTIME.all("USER")[0].partition(":")
    assert pod_security["runAsNonRoot"] is True
    assert (pod_security["runAsUser"], pod_security["runAsGroup"]) == (int(uid), int(gid))
    assert POD["automountServiceAccountToken"] is False


def test_resources_are_requested_and_memory_limited() -> None:
    resources = CONTAINER["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]


def test_every_credential_comes_from_a_secret_never_a_literal() -> None:
    env = {variable["name"]: variable for variable in CONTAINER["env"]}
    secrets = {
        name: variable["valueFrom"]["secretKeyRef"]
        for name, variable in env.items()
        if "secretKeyRef" in variable.get("valueFrom", {})
    }

    assert {"MLFLOW_TRACKING_TOKEN", "GIT_TOKEN"} <= secrets.keys()
    for name, variable in env.items():
        if any(word in name for word in SECRET_LIKE):
            assert name in secrets, f"{name} must come from a Secret"
        assert "@" not in variable.get("value", ""), f"{name}: no user:password@ in a URL"
    assert "@" not in flag("--repo")
    example = {doc["metadata"]["name"]: doc for doc in RESOURCES["secret.example.yaml"]}
    for name, ref in secrets.items():
        assert ref["key"] in example[ref["name"]]["stringData"], name


def test_the_service_and_the_monitor_select_the_pods_on_the_named_port() -> None:
    pod_labels = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    assert DEPLOYMENT["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert SERVICE["spec"]["selector"].items() <= pod_labels.items()
    (port,) = SERVICE["spec"]["ports"]
    assert port["targetPort"] == CONTAINER["ports"][0]["name"]

    assert (
        MONITOR["spec"]["selector"]["matchLabels"].items() <= SERVICE["metadata"]["labels"].items()
    )
    (endpoint,) = MONITOR["spec"]["endpoints"]
    assert endpoint["port"] == port["name"]
    assert endpoint["path"] == "/metrics"


@pytest.fixture
def git_server() -> Iterator[tuple[str, list[str]]]:
    """An https-like git remote on loopback that asks for Basic auth and records what it gets."""
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            authorization = self.headers.get("Authorization")
            if authorization is None:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
            else:
                received.append(authorization)
                self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/acme/registry.git", received
    finally:
        server.shutdown()
        server.server_close()


def test_git_gets_the_token_from_the_environment_through_the_deployment_helper(
    git_server: tuple[str, list[str]], tmp_path: Path
) -> None:
    """The Deployment's GIT_CONFIG_* variables, given to a real git: it answers the remote's
    Basic challenge with the token, which is in no URL, argument or file."""
    url, received = git_server
    env = {
        variable["name"]: variable.get("value", "")
        for variable in CONTAINER["env"]
        if variable["name"].startswith("GIT_CONFIG_")
    }
    env |= {
        "GIT_TOKEN": "t0ken-from-the-secret",
        "GIT_TERMINAL_PROMPT": "0",
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "GIT_CONFIG_NOSYSTEM": "1",
    }

    subprocess.run(
        ["git", "ls-remote", url], env=env, capture_output=True, timeout=60, check=False
    )  # timeout: a hang guard; the remote refuses after recording the credential

    expected = base64.b64encode(b"x-access-token:t0ken-from-the-secret").decode()
    assert received == [f"Basic {expected}"]
