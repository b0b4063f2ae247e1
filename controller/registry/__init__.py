"""The registry layer, with serving.py the only code that imports mlflow: turns the registry
into plain data, and changes into writes.

client.py makes the one MlflowClient (process settings, the Retry-After cap); mlflow_private.py
holds every private MLflow call; errors.py translates failures; filters.py builds search
filters; reads.py, facts.py and writes.py are the state reads, evidence reads and writes;
copy.py and artifacts.py copy versions in, and sources.py opens the registries they come from.
"""

from __future__ import annotations

from controller.output import redact
from controller.registry.client import (
    FAST_FAIL_DEFAULTS,
    NOISY_LOGGERS,
    configure_process,
)
from controller.registry.copy import Copies
from controller.registry.facts import EvidenceReads
from controller.registry.reads import StateReads
from controller.registry.writes import Writes
from controller.target import TargetFlags, resolve_target
from controller.values import RegistryRef

__all__ = [
    "FAST_FAIL_DEFAULTS",
    "NOISY_LOGGERS",
    "Registry",
    "configure_process",
    "open_registry",
    "registry_ref",
]


class Registry(StateReads, EvidenceReads, Writes, Copies):
    """A connection to one MLflow registry, exposing only what the controller needs."""


def open_registry(
    flags: TargetFlags,
    manifest_uri: str | None,
    manifest_path: str = "the manifest",
    *,
    for_apply: bool = False,
) -> Registry:
    """The registry the flags, environment or manifest name; every command opens it here.

    Reads never create a local store; apply may, but only the embedded default."""
    target = resolve_target(flags, manifest_uri, manifest_path)
    return Registry(target, may_create=for_apply and target.is_default)


def registry_ref(registry: Registry) -> RegistryRef:
    """Which registry, and why: what every command names on its first line."""
    return RegistryRef(uri=redact(registry.target.registry_uri), source=registry.target.source)
