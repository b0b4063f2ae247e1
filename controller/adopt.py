"""`import`: a manifest declaring what the registry holds now, so a team can adopt the tool
without moving a single alias."""

from __future__ import annotations

import re

from controller.errors import UsageError
from controller.manifest import Manifest, ModelSpec, dump_manifest
from controller.ownership import NAME_PATTERN, remote_identity
from controller.state import LiveState


def adoption_name(given: str | None, remote_url: str | None, path_in_repo: str | None) -> str:
    """The `name:` import writes: `--name`, else the remote and the manifest's path in the
    repository (what plan would derive today); without a remote, `--name` is required."""
    name = given
    if name is None and remote_url and path_in_repo:
        name = f"{remote_identity(remote_url)}:{path_in_repo}"
    if name is None:
        raise UsageError(
            "no git remote to name this manifest after: pass --name NAME (e.g. "
            "--name team-a/models), the identity it manages its models under"
        )
    if not re.match(NAME_PATTERN, name):
        raise UsageError(
            f"--name {name!r}: use letters, digits and . _ / @ + : - only (a registry tag "
            "filter must carry it)"
        )
    return name


def adoption_manifest(live: LiveState, name: str) -> str:
    """Every live model with its aliases as they are, in name order, under a fixed `name:`
    (the owner identity), so adding a remote or moving the checkout later changes nothing."""
    manifest = Manifest(
        version=1,
        name=name,
        models={
            name: ModelSpec(aliases=dict(sorted(live.models[name].aliases.items())))
            for name in sorted(live.models)
        },
    )
    return dump_manifest(manifest)
