"""The registry.yaml format: load and validate a manifest, keeping line marks.

This is the only package that parses the manifest, which arrives in pull requests: untrusted.
model.py holds the pydantic models, events.py the strict reader with its limits, problems.py
turns pydantic's errors into problems and checks.py the checks across fields. Every problem is
collected (up to a cap) with the FILE:LINE:COL of the offending key or value.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from controller.errors import ManifestError
from controller.manifest.checks import (
    case_collisions,
    copy_problems,
    gate_problems,
    prune_spelling,
    released_and_declared,
    track_problems,
)
from controller.manifest.events import (
    FAST_LOADER,
    MAX_DEPTH,
    MAX_MANIFEST_BYTES,
    MAX_NODES,
    Builder,
    LimitCrossed,
    check_characters,
    compose_manifest,
    read_bytes,
    syntax_problem,
    too_large,
)
from controller.manifest.model import (
    CopyFrom,
    KeyPath,
    LoadedManifest,
    Manifest,
    ModelSpec,
    check_model_name,
    dump_manifest,
    json_schema,
)
from controller.manifest.problems import validate
from controller.values import Problem

__all__ = [
    "FAST_LOADER",
    "MAX_DEPTH",
    "MAX_NODES",
    "CopyFrom",
    "KeyPath",
    "LoadedManifest",
    "Manifest",
    "ModelSpec",
    "check_model_name",
    "compose_manifest",
    "dump_manifest",
    "json_schema",
    "load_manifest",
    "parse_manifest",
]


def parse_manifest(text: str, file: str) -> LoadedManifest:
    """Validate manifest text. Raises ManifestError with every problem found."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_MANIFEST_BYTES:
        raise ManifestError([too_large(file)])
    check_characters(text, file)
    builder = Builder(file)
    try:
        for event in yaml.parse(text, Loader=FAST_LOADER):
            builder.feed(event)
    except LimitCrossed:
        raise ManifestError(builder.problems) from None
    except yaml.YAMLError as exc:
        raise ManifestError([syntax_problem(file, text, exc)]) from None
    data = builder.root
    if data is None and not builder.problems:
        raise ManifestError([Problem(file, 1, 1, "the manifest is empty")])
    if not isinstance(data, dict):
        builder.error((1, 1), "the manifest must be a mapping with 'version' and 'models'")
        raise ManifestError(builder.problems)

    valid, problems = validate(data, builder)
    problems += track_problems(data, file, builder)
    if valid is None:
        raise ManifestError(sorted(problems, key=lambda p: (p.line, p.col)))
    loaded = LoadedManifest(
        path=file,
        manifest=valid,
        key_marks=builder.key_marks,
        value_marks=builder.value_marks,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
    # The checks across fields run on the valid parts too, so one pass reports everything.
    checked = [
        *released_and_declared(loaded),
        *gate_problems(loaded),
        *copy_problems(loaded),
        *case_collisions(loaded),
        *prune_spelling(loaded),
    ]
    problems += [p for p in checked if p.severity == "error"]
    if problems:
        raise ManifestError(sorted(problems, key=lambda p: (p.line, p.col)))
    loaded.warnings.extend(p for p in checked if p.severity == "warning")
    return loaded


def load_manifest(path: str | Path) -> LoadedManifest:
    """Read and validate a manifest file; a missing, huge or unreadable file is a ManifestError."""
    file = str(path)
    data = read_bytes(file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - data.rfind(b"\n", 0, exc.start)
        raise ManifestError([Problem(file, line, col, "not UTF-8 text")]) from None
    return parse_manifest(text, file)
