"""Pydantic's validation errors as manifest problems, each at its FILE:LINE:COL."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from controller.manifest.events import MAX_PROBLEMS, TOO_MANY_PROBLEMS, Builder
from controller.manifest.model import SUPPORTED_VERSIONS, KeyPath, Manifest, ModelSpec
from controller.policy import Gate
from controller.values import Problem


def _problem_from_pydantic(file: str, error: Any, key_marks: dict, value_marks: dict) -> Problem:
    loc = tuple(str(part) for part in error["loc"])
    is_key_error = _is_key_error(error)
    if is_key_error:
        loc = loc[:-1]
    if error["type"] == "missing":
        line, col = value_marks.get(loc[:-1], (1, 1))
        return Problem(file, line, col, f"missing required key {loc[-1]!r}")
    if error["type"] == "extra_forbidden":
        line, col = key_marks.get(loc, (1, 1))
        if len(loc) >= 3 and loc[-3] == "gates":
            known = ", ".join(Gate.model_fields)
            return Problem(file, line, col, f"unknown gate {loc[-1]!r} (known: {known})")
        return Problem(file, line, col, f"unknown key {loc[-1]!r}")
    if error["type"] == "literal_error" and loc == ("version",):
        line, col = value_marks.get(loc, (1, 1))
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        return Problem(
            file,
            line,
            col,
            f"unsupported manifest version {error['input']!r} (supported: {supported})",
        )
    marks = key_marks if is_key_error else value_marks
    line, col = marks.get(loc, key_marks.get(loc, (1, 1)))
    if error["type"] == "value_error":
        message = str(error["ctx"]["error"])
    else:
        where = ".".join(_printable(part) for part in loc) or "document"
        message = f"{where}: {error['msg'].lower()}"
    return Problem(file, line, col, message)


def _printable(name: str) -> str:
    """A name as written when it prints plainly on one line, else quoted with escapes."""
    return name if name.isprintable() and name.strip() == name and name else repr(name)


# Each union's scalar member -> its mapping member: a tag requirement (string or {pattern}),
# an alias value (version or {source, model, version}).
UNION_MEMBERS = {"str": "TagPattern", "int": "CopyFrom"}


def _without_union_noise(errors: list[Any]) -> list[Any]:
    """A value that is a scalar or a mapping: report only the branch that was meant."""
    kept = []
    for error in errors:
        loc = error["loc"]
        member = next(
            (part for part in loc if part in {*UNION_MEMBERS, *UNION_MEMBERS.values()}), None
        )
        if member is None:
            kept.append(error)
            continue
        mapping = UNION_MEMBERS.get(member, member)
        scalar = next(k for k, v in UNION_MEMBERS.items() if v == mapping)
        meant = mapping if isinstance(error["input"], dict) else scalar
        if member == meant or (member == mapping and error["type"] != "model_type"):
            kept.append({**error, "loc": tuple(part for part in loc if part != member)})
    return kept


def validate(data: dict[str, Any], builder: Builder) -> tuple[Manifest | None, list[Problem]]:
    """Validate model by model, so that a manifest of many broken models stops at the cap.

    Returns the manifest of the parts that are valid (None if the top level is not), so the
    checks across fields still run on those, and every problem found.
    """
    problems = list(builder.problems)

    def check(part: dict[str, Any]) -> Manifest | None:
        try:
            return Manifest.model_validate(part)
        except ValidationError as exc:
            problems.extend(
                _problem_from_pydantic(builder.file, err, builder.key_marks, builder.value_marks)
                for err in _without_union_noise(exc.errors(include_url=False))
                if not _under(builder.refused, err)
            )
            return None

    models = data.get("models")
    if not isinstance(models, dict):
        return check(data), problems
    valid: dict[str, ModelSpec] = {}
    for name, spec in models.items():
        one = check({"version": 1, "models": {name: spec}})
        if one is not None:
            valid.update(one.models)
        if len(problems) >= MAX_PROBLEMS:
            line, col = problems[-1].line, problems[-1].col
            return None, [*problems, Problem(builder.file, line, col, TOO_MANY_PROBLEMS)]
    top = check({**data, "models": {}})
    if top is None:
        return None, problems
    return top.model_copy(update={"models": valid}), problems


def _under(refused: set[KeyPath], error: Any) -> bool:
    """True for a pydantic error inside a value already reported (a refused anchor, say)."""
    path = tuple(str(part) for part in error["loc"])
    own = 1
    if _is_key_error(error):
        path, own = path[:-1], 0  # a key's own problem is not its value's
    return any(path[:end] in refused for end in range(len(path) + own))


def _is_key_error(error: Any) -> bool:
    """Pydantic marks a dict key's own error with a last loc part "[key]"; a key may be named
    "[key]" too, but missing and unknown keys are never errors of a key's own."""
    loc = error["loc"]
    return bool(loc) and loc[-1] == "[key]" and error["type"] not in ("missing", "extra_forbidden")
