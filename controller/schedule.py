"""Durations (`24h`, `90s`) and strict 5-field cron expressions, for gates and freeze windows.

Small on purpose: minute hour day-of-month month day-of-week, each `*`, a number, a range
`a-b`, a list `a,b` or a step `*/n` / `a-b/n`. No names (`MON`), no `@daily`, no seconds, so
a typo fails `validate` instead of freezing the wrong hours. Pure: no clock is read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
# (name, lowest, highest) of each field, in order.
CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),  # 0 and 7 are both Sunday, as in crontab(5)
)
# The longest duration accepted (min_age, freeze windows): far beyond any real policy, and
# short enough that looking back over a window's whole length stays cheap.
MAX_DURATION = timedelta(days=3660)


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `24h`, `7d`, or a combination in that order (`1d12h`, `1m30s`); anything
    else is an error. Seconds are for short soaks in tests and rehearsals."""
    match = DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise ValueError(
            f"malformed duration {text!r}: use a number with d, h, m or s, e.g. 24h or 90s"
        )
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    too_long = f"duration {text!r} is longer than {MAX_DURATION.days}d (10 years), the limit"
    try:
        length = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        raise ValueError(too_long) from None
    if length > MAX_DURATION:
        raise ValueError(too_long)
    return length


def show_duration(delta: timedelta, seconds_under_an_hour: bool = False) -> str:
    """A duration as people read it: `2d 3h`, `45m`, `0m`. Seconds only when asked, and only
    under an hour: a soak of `90s` reads `1m 30s`, a version's age never carries them."""
    total = int(delta.total_seconds())
    days, rest = divmod(total, 24 * 3600)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days or hours or not seconds_under_an_hour:
        seconds = 0
    units = ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s"))
    parts = [f"{n}{unit}" for n, unit in units if n]
    return " ".join(parts) or "0m"


def duration_text(delta: timedelta) -> str:
    """A duration in the manifest's own syntax, which parse_duration reads back to the same
    value: how a parsed soak is written out again. Hours up to two days (`24h`, `36h`, as
    soaks are written), days beyond (`7d`); seconds only when there are some (`1m30s`)."""
    total = int(delta.total_seconds())
    days, rest = divmod(total, 24 * 3600) if total >= 2 * 24 * 3600 else (0, total)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    units = ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s"))
    return "".join(f"{n}{unit}" for n, unit in units if n) or "0s"


@dataclass(frozen=True)
class Cron:
    """The set of allowed values per field; a time matches when every field allows it."""

    expression: str  # as written, so a plan file can carry it
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month was `*`
    any_weekday: bool  # day of week was `*`

    def matches(self, at: datetime) -> bool:
        return at.minute in self.minutes and at.hour in self.hours and self.matches_day(at)

    def matches_day(self, at: datetime) -> bool:
        if at.month not in self.months:
            return False
        day_ok = at.day in self.days
        weekday_ok = (at.isoweekday() % 7) in self.weekdays
        # crontab(5): when both day fields are restricted, either one matching is enough.
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", part)
        if not match:
            raise ValueError(f"{name} {part!r} is not a number, range, list or step")
        whole, first, last, step = match.groups()
        start, end = (low, high) if whole == "*" else (int(first), int(last or first))
        if step is not None and whole != "*" and last is None:
            end = high  # `5/15` means from 5 to the end, every 15
        if not (low <= start <= high and low <= end <= high):
            raise ValueError(f"{name} {part!r} is outside {low}-{high}")
        if start > end:
            raise ValueError(f"{name} range {part!r} runs backwards")
        if step is not None and int(step) < 1:
            raise ValueError(f"{name} step in {part!r} must be at least 1")
        values.update(range(start, end + 1, int(step or 1)))
    return frozenset(values)


def parse_cron(text: str) -> Cron:
    """Parse `minute hour day month weekday`; raise ValueError naming the bad field."""
    parts = text.split() if isinstance(text, str) else []
    if len(parts) != len(CRON_FIELDS):
        raise ValueError(
            f"malformed cron expression {text!r}: need 5 fields "
            "(minute hour day-of-month month day-of-week)"
        )
    try:
        fields = [_field(p, *spec) for p, spec in zip(parts, CRON_FIELDS, strict=True)]
    except ValueError as exc:
        raise ValueError(f"malformed cron expression {text!r}: {exc}") from None
    minutes, hours, days, months, weekdays = fields
    return Cron(
        expression=text,
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=frozenset(d % 7 for d in weekdays),
        any_day=parts[2] == "*",
        any_weekday=parts[4] == "*",
    )


def last_start(cron: Cron, now: datetime, within: timedelta) -> datetime | None:
    """The latest minute at or before `now`, no older than `within`, that the cron matches.

    Fields are read on `now`'s wall clock: the caller puts `now` in the cron's time zone.
    """
    at = now.replace(second=0, microsecond=0)
    # On the same wall clock as `now`, found through UTC: `within` is elapsed time, and a DST
    # switch in between moves the wall clock but not the window's start.
    earliest = (now.astimezone(UTC) - within).astimezone(now.tzinfo) if now.tzinfo else now - within
    while at >= earliest:
        if not cron.matches_day(at):
            at = at.replace(hour=0, minute=0) - timedelta(minutes=1)
            continue
        if at.hour not in cron.hours:
            at = at.replace(minute=0) - timedelta(minutes=1)
            continue
        if cron.matches(at):
            return at
        at -= timedelta(minutes=1)
    return None
