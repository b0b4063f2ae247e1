"""The registry layer, with serving.py the only code that imports mlflow: turns the registry
into plain data, and changes into writes.

client.py makes the one MlflowClient (process settings, the Retry-After cap); mlflow_private.py
holds every private MLflow call; errors.py translates failures; filters.py builds search
filters; reads.py, facts.py and writes.py are the state reads, evidence reads and writes.
"""

from __future__ import annotations

from controller.registry.client import (
    FAST_FAIL_DEFAULTS,
    NOISY_LOGGERS,
    configure_process,
)
from controller.registry.facts import EvidenceReads
from controller.registry.reads import StateReads
from controller.registry.writes import Writes

__all__ = ["FAST_FAIL_DEFAULTS", "NOISY_LOGGERS", "Registry", "configure_process"]


class Registry(StateReads, EvidenceReads, Writes):
    """A connection to one MLflow registry, exposing only what the controller needs."""
