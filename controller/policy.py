"""Promotion policy: gates, freeze windows and track policies, typed once.

The manifest declares these and the plan carries them (`Plan.gate_specs`, `Plan.freeze`), so
both import them from here. Pure: no I/O, no clock. A cron expression is parsed when its window
is validated, and the parsed schedule is what freeze checks read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    model_serializer,
    model_validator,
)
from pydantic.functional_serializers import PlainSerializer
from pydantic.functional_validators import AfterValidator, BeforeValidator, PlainValidator

from controller.schedule import Cron, duration_text, last_start, parse_cron, parse_duration

ALIAS_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
RESERVED_VERSION_ALIAS = re.compile(r"[vV][0-9]+")
# MLflow's own limit. Every name up to it applies and audits: the audit tag key of an alias
# too long for MLflow's 250-character tag keys ends in a digest (state.audit_tag_key).
MAX_ALIAS_LENGTH = 255


def check_alias_name(name: str) -> str:
    """Reject names MLflow itself would refuse, so a plan never fails half-way at write time."""
    if not name:
        raise ValueError("alias name must not be empty")
    if len(name) > MAX_ALIAS_LENGTH:
        raise ValueError(
            f"alias name is {len(name)} characters long; MLflow allows at most {MAX_ALIAS_LENGTH}"
        )
    if not ALIAS_PATTERN.fullmatch(name):
        raise ValueError(f"alias {name!r} may only contain ASCII letters, digits, '_' and '-'")
    if name.lower() == "latest":
        raise ValueError(f"alias {name!r} is reserved by MLflow")
    if RESERVED_VERSION_ALIAS.fullmatch(name):
        raise ValueError(f"alias {name!r} is reserved by MLflow (v<digits> names a version)")
    return name


# Validation runs in the functions above (they give the clearer messages); the schema states
# the same rules for editors, with look-aheads that pydantic's own regex engine lacks.
ALIAS_SCHEMA = {
    "type": "string",
    "pattern": r"^(?![Ll][Aa][Tt][Ee][Ss][Tt]$)(?![vV][0-9]+$)[A-Za-z0-9_-]+$",
    "maxLength": MAX_ALIAS_LENGTH,
}
AliasName = Annotated[str, AfterValidator(check_alias_name), WithJsonSchema(ALIAS_SCHEMA)]


class PlainScalar(str):
    """A YAML scalar written without quotes, kept as text: the field it lands in decides what it
    means (`true` is a boolean only where a boolean is wanted), so the reader keeps no table."""


def shown(value: Any) -> str:
    """A value as written: plain text as is, quoted text quoted, others as Python shows them."""
    if value is None:
        return "null"
    if not isinstance(value, str):
        return repr(value)
    short = value if len(value) <= 40 else value[:40] + "…"
    quoted = repr(str(short))
    return short if isinstance(value, PlainScalar) and quoted[1:-1] == short else quoted


def read_flag(value: Any, info: ValidationInfo) -> Any:
    """Booleans are strict: `true` or `false` as written, never `yes`, `on`, `1` or `"true"`."""
    if isinstance(value, PlainScalar) and value in ("true", "false"):
        return value == "true"
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"{info.field_name} must be true or false, got {shown(value)}")


NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def read_number(value: Any, info: ValidationInfo) -> Any:
    """A finite decimal number as written; quoted text, booleans, `.nan` and `.inf` are not."""
    if isinstance(value, PlainScalar):
        if NUMBER.fullmatch(value):
            return float(value)
        raise ValueError(f"{info.field_name} must be a number, got {shown(value)}")
    if isinstance(value, str | bool):
        raise ValueError(f"{info.field_name} must be a number, without quotes; got {shown(value)}")
    return value


Flag = Annotated[bool, BeforeValidator(read_flag)]
Bound = Annotated[float, Field(allow_inf_nan=False), BeforeValidator(read_number)]


def check_duration(text: Any) -> str:
    parse_duration(text)
    return str(text)


def check_regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"malformed regular expression {text!r}: {exc}") from None
    return text


def read_cron(value: Any) -> Cron:
    """The expression as written (YAML or a plan file), parsed here and only here."""
    if isinstance(value, Cron):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a cron expression is a string, got {value!r}")
    return parse_cron(value)


DURATION_SCHEMA = {"type": "string", "pattern": r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$", "minLength": 2}
Duration = Annotated[str, AfterValidator(check_duration), WithJsonSchema(DURATION_SCHEMA)]
CronSchedule = Annotated[
    Cron,
    PlainValidator(read_cron),
    PlainSerializer(lambda cron: cron.expression, return_type=str),
    WithJsonSchema({"type": "string", "minLength": 9}),
]
Regex = Annotated[str, AfterValidator(check_regex)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TagPattern(Strict):
    pattern: Regex = Field(description="regular expression the whole tag value must match")


def tag_matches(want: str | TagPattern, value: str | None) -> bool:
    """A required version tag holds (gates and track alike): the exact value, or a regex
    matching the whole value. A missing tag never holds."""
    if value is None:
        return False
    if isinstance(want, TagPattern):
        return re.fullmatch(want.pattern, value) is not None
    return value == want


class MetricBounds(Strict):
    min: Bound | None = Field(default=None, description="the metric must be at least this")
    max: Bound | None = Field(default=None, description="the metric must be at most this")

    @model_validator(mode="after")
    def _some_bound(self) -> MetricBounds:
        if self.min is None and self.max is None:
            raise ValueError("a metric gate needs min, max or both")
        return self


def read_soak(value: Any) -> timedelta:
    """A soak as written (`24h`, `90s`), or already parsed (a copied gate)."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"soak must be a duration such as 24h or 90s, got {shown(value)}")
    return parse_duration(value)


SoakTime = Annotated[
    timedelta,
    PlainValidator(read_soak),
    PlainSerializer(duration_text, return_type=str),
    WithJsonSchema(DURATION_SCHEMA),
]


class PromotesFrom(Strict):
    """Where a version must come from: the alias it holds (or held through this tool), for at
    least `soak` when given, counted from records an EDIT-only user cannot forge (trust.py).
    The manifest's string form `promotes_from: challenger` is PromotesFrom(alias="challenger").
    """

    alias: AliasName = Field(description="the alias the version must hold, or have held")
    soak: SoakTime | None = Field(
        default=None,
        description="how long it must have held the alias (24h, 90s), counted from its "
        "reviewed commit and confirmed apply, whichever is later",
    )
    source: str | None = Field(
        default=None, description="the registry (under sources:) where it must hold the alias"
    )

    @model_serializer
    def _as_written(self) -> str | dict[str, str]:
        """The short form when only the alias is set, so plans and JSON read as before."""
        if self.soak is None and self.source is None:
            return self.alias
        written = {"alias": self.alias, "source": self.source}
        if self.soak is not None:
            written["soak"] = duration_text(self.soak)
        return {key: value for key, value in written.items() if value is not None}


def read_promotes_from(value: Any) -> Any:
    """The string form is an alias name, checked here so a bad one is reported where it stands."""
    if isinstance(value, str):
        return PromotesFrom(alias=check_alias_name(value))
    return value


PROMOTES_FROM_SCHEMA = {
    "anyOf": [
        ALIAS_SCHEMA,
        {
            "type": "object",
            "properties": {
                "alias": ALIAS_SCHEMA,
                "soak": DURATION_SCHEMA,
                "source": {"type": "string"},
            },
            "required": ["alias"],
            "additionalProperties": False,
        },
    ]
}
PromotesFromSpec = Annotated[
    PromotesFrom, BeforeValidator(read_promotes_from), WithJsonSchema(PROMOTES_FROM_SCHEMA)
]


class Gate(Strict):
    """What a version must show before an alias may point at it (in plan and again in apply)."""

    require_tags: dict[str, str | TagPattern] = Field(
        default_factory=dict,
        description="version tags that must be set: an exact value or {pattern: regex}",
    )
    require_signature: Flag | None = Field(
        default=None, description="the version's MLmodel must have a signature"
    )
    promotes_from: PromotesFromSpec | None = Field(
        default=None,
        description="the version must hold this alias now, or have held it through this tool: "
        "an alias name, or {alias, soak} to require it held that long",
    )
    metrics: dict[str, MetricBounds] = Field(
        default_factory=dict, description="bounds on the metrics of the version's run or model"
    )
    better_than_current: dict[str, Literal["lower", "higher"]] = Field(
        default_factory=dict,
        description="metric -> which way is better than the version the alias holds now",
    )
    min_age: Duration | None = Field(
        default=None, description="the version was created at least this long ago (30m, 24h, 7d)"
    )
    on_rollback: Literal["waive", "enforce"] | None = Field(
        default=None,
        description="a rollback to a version that held the alias skips min_age, "
        "better_than_current and promotes_from (waive, the default) or keeps them (enforce)",
    )

    def soft_checks(self) -> list[str]:
        """The checks a rollback does not have to pass, unless `on_rollback: enforce`: a version
        that served before need not beat, outwait or come from what replaced it."""
        if self.on_rollback == "enforce":
            return []
        declared = {
            "better_than_current": bool(self.better_than_current),
            "min_age": self.min_age is not None,
            "promotes_from": self.promotes_from is not None,
        }
        return [name for name, present in declared.items() if present]

    def without(self, checks: list[str]) -> Gate:
        """The gate with these soft checks left out."""
        cleared: dict[str, object] = {
            "better_than_current": {},
            "min_age": None,
            "promotes_from": None,
        }
        return self.model_copy(update={name: cleared[name] for name in checks})


def merge_gates(outer: Gate | None, inner: Gate | None) -> Gate | None:
    """Fields the inner gate sets win; maps (tags, metrics) merge key by key."""
    if outer is None or inner is None:
        return inner or outer
    merged = outer.model_dump()
    for name in inner.model_fields_set:
        value = getattr(inner, name)
        if isinstance(value, dict):
            merged[name] = {**merged[name], **inner.model_dump()[name]}
        else:
            merged[name] = value
    return Gate.model_validate(merged)


def check_timezone(name: str) -> str:
    """An IANA zone name the tz database knows; never a path, whatever zoneinfo would try."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin"
        ) from None
    return name


TimeZoneName = Annotated[str, AfterValidator(check_timezone)]


class FreezeWindow(Strict):
    """A window in which apply refuses, unless run with --override-freeze --reason."""

    cron: CronSchedule = Field(
        description="when the window starts (5 fields, in UTC unless timezone says otherwise)"
    )
    duration: Duration = Field(description="how long it lasts (30m, 24h, 7d; at most 3660d)")
    reason: str = Field(description="shown when apply refuses")
    timezone: TimeZoneName | None = Field(
        default=None,
        description="IANA time zone the cron is read in (Europe/Berlin), daylight saving "
        "included; default UTC",
    )

    def open_at(self, now: datetime) -> tuple[datetime, datetime] | None:
        """(start, end) in UTC of this window if it is open at `now`, else None. The cron is
        read on the zone's wall clock; the duration is elapsed time, across any DST switch."""
        zone = ZoneInfo(self.timezone) if self.timezone else UTC
        length = parse_duration(self.duration)
        started = last_start(self.cron, now.astimezone(zone), length)
        if started is None:
            return None
        start = started.astimezone(UTC)
        end = start + length
        return (start, end) if now < end else None


class TrackPolicy(BaseModel):
    """Which versions an alias follows: the newest READY one carrying these tags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tags: dict[str, str | TagPattern] = Field(default_factory=dict)
