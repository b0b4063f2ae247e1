"""`import`: a manifest declaring what the registry holds now, so a team can adopt the tool
without moving a single alias."""

from __future__ import annotations

from controller.manifest import Manifest, ModelSpec, dump_manifest
from controller.state import LiveState


def adoption_manifest(live: LiveState) -> str:
    """Every live model with its aliases as they are, in name order."""
    manifest = Manifest(
        version=1,
        models={
            name: ModelSpec(aliases=dict(sorted(live.models[name].aliases.items())))
            for name in sorted(live.models)
        },
    )
    return dump_manifest(manifest)
