"""Durations and the strict 5-field cron used by freeze windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from controller.policy import FreezeWindow
from controller.review import active_freeze
from controller.schedule import (
    duration_text,
    last_start,
    parse_cron,
    parse_duration,
    show_duration,
)
from controller.values import Plan

FRIDAY_17 = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30m", timedelta(minutes=30)), ("24h", timedelta(hours=24)), ("7d", timedelta(days=7)),
     ("1d12h", timedelta(days=1, hours=12)), ("90s", timedelta(seconds=90)),
     ("1m30s", timedelta(seconds=90)),
     ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4))],
)  # fmt: skip
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "24", "h", "24x", "1h1d", "6 4h", "-1h", "1.5h", "30s1m", "s", "1.5s"]
)
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="malformed duration"):
        parse_duration(text)


def test_durations_show_as_days_hours_minutes() -> None:
    assert show_duration(timedelta(hours=50, minutes=3)) == "2d 2h 3m"
    assert show_duration(timedelta(seconds=59)) == "0m"


def test_seconds_show_only_when_asked_and_under_an_hour() -> None:
    assert show_duration(timedelta(seconds=90), seconds_under_an_hour=True) == "1m 30s"
    assert show_duration(timedelta(seconds=7), seconds_under_an_hour=True) == "7s"
    assert show_duration(timedelta(hours=1, seconds=7), seconds_under_an_hour=True) == "1h"


@pytest.mark.parametrize(
    ("text", "written"),
    [("90s", "1m30s"), ("1d12h", "36h"), ("24h", "24h"), ("7d", "7d"), ("1d2h3m4s", "26h3m4s"),
     ("2d", "2d"), ("49h", "2d1h")],
)  # fmt: skip
def test_a_duration_written_out_reads_back_the_same(text: str, written: str) -> None:
    assert duration_text(parse_duration(text)) == written
    assert parse_duration(written) == parse_duration(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0 17 * *", "need 5 fields"),
        ("0 17 * * * *", "need 5 fields"),
        ("60 * * * *", "minute '60' is outside 0-59"),
        ("* 24 * * *", "hour '24' is outside 0-23"),
        ("* * 0 * *", "day of month '0' is outside 1-31"),
        ("* * * 13 *", "month '13' is outside 1-12"),
        ("* * * * 8", "day of week '8' is outside 0-7"),
        ("* * * * FRI", "day of week 'FRI' is not a number"),
        ("5-1 * * * *", "runs backwards"),
        ("*/0 * * * *", "step in '*/0' must be at least 1"),
        ("@daily", "need 5 fields"),
    ],
)
def test_malformed_cron_names_the_field(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="malformed cron expression") as caught:
        parse_cron(text)
    assert reason in str(caught.value)


def test_cron_matches_lists_ranges_and_steps() -> None:
    cron = parse_cron("*/15 9-17 * * 1-5")
    assert cron.matches(datetime(2026, 11, 30, 9, 45))  # Monday
    assert not cron.matches(datetime(2026, 11, 30, 9, 50))
    assert not cron.matches(datetime(2026, 11, 29, 9, 45))  # Sunday
    assert parse_cron("0 0 * * 7").matches(datetime(2026, 11, 29, 0, 0))  # 7 is Sunday too


def test_either_day_field_matches_when_both_are_restricted() -> None:
    cron = parse_cron("0 0 1 * 5")  # crontab(5): the 1st, or any Friday
    assert cron.matches(datetime(2026, 12, 1, 0, 0))  # a Tuesday, the 1st
    assert cron.matches(datetime(2026, 11, 27, 0, 0))  # a Friday
    assert not cron.matches(datetime(2026, 11, 26, 0, 0))


def test_last_start_finds_the_window_that_is_still_open() -> None:
    weekend = parse_cron("0 17 * * 5")
    monday_8 = FRIDAY_17 + timedelta(hours=63)
    assert last_start(weekend, monday_8, timedelta(hours=64)) == FRIDAY_17
    assert last_start(weekend, FRIDAY_17 - timedelta(minutes=1), timedelta(hours=64)) is None
    assert last_start(weekend, FRIDAY_17 + timedelta(hours=65), timedelta(hours=64)) is None


def frozen_at(window: dict[str, str], now: datetime) -> str | None:
    return active_freeze(Plan.model_validate({"freeze": [window]}), now)


def test_a_window_longer_than_31_days_is_honoured_to_its_end() -> None:
    december = {"cron": "0 0 1 12 *", "duration": "45d", "reason": "year end"}
    assert frozen_at(december, datetime(2027, 1, 10, tzinfo=UTC)) == (
        "year end (freeze from 2026-12-01 00:00 UTC until 2027-01-15 00:00 UTC)"
    )
    assert frozen_at(december, datetime(2027, 1, 15, tzinfo=UTC)) is None


def test_a_pinned_time_with_an_offset_reads_cron_in_utc() -> None:
    weekend = {"cron": "0 17 * * 5", "duration": "64h", "reason": "weekend"}
    plus_two = timezone(timedelta(hours=2))
    assert frozen_at(weekend, datetime(2026, 11, 27, 18, 30, tzinfo=plus_two)) is None  # 16:30Z
    assert frozen_at(weekend, datetime(2026, 11, 27, 19, 30, tzinfo=plus_two)) == (
        "weekend (freeze from 2026-11-27 17:00 UTC until 2026-11-30 09:00 UTC)"
    )


@pytest.mark.parametrize(
    ("inside", "outside", "start"),
    [
        # Central European Time in January (UTC+1), summer time in July (UTC+2).
        (datetime(2027, 1, 12, 8, 30), datetime(2027, 1, 12, 9, 30), "2027-01-12 08:00"),
        (datetime(2027, 7, 13, 7, 30), datetime(2027, 7, 13, 8, 30), "2027-07-13 07:00"),
    ],
)
def test_a_window_with_a_timezone_follows_its_daylight_saving_time(
    inside: datetime, outside: datetime, start: str
) -> None:
    nine = {"cron": "0 9 * * *", "duration": "1h", "reason": "standup", "timezone": "Europe/Berlin"}
    assert frozen_at(nine, inside.replace(tzinfo=UTC)) == (
        f"standup (freeze from {start} UTC until {start[:11]}{int(start[11:13]) + 1:02d}:00 UTC)"
    )
    assert frozen_at(nine, outside.replace(tzinfo=UTC)) is None


def test_a_window_across_the_switch_to_summer_time_lasts_its_duration() -> None:
    # Saturday 27 March 2027, 22:00 in Berlin (21:00 UTC), for 24 hours: Berlin's clocks go
    # forward that night, so the window ends at 23:00 on the wall, 21:00 UTC.
    night = {"cron": "0 22 27 3 *", "duration": "24h", "reason": "r", "timezone": "Europe/Berlin"}
    assert frozen_at(night, datetime(2027, 3, 27, 20, 59, tzinfo=UTC)) is None
    assert frozen_at(night, datetime(2027, 3, 28, 20, 30, tzinfo=UTC)) == (
        "r (freeze from 2027-03-27 21:00 UTC until 2027-03-28 21:00 UTC)"
    )
    assert frozen_at(night, datetime(2027, 3, 28, 21, 0, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"timezone": "Mars/Olympus_Mons"},
         "unknown time zone 'Mars/Olympus_Mons': use an IANA name such as Europe/Berlin"),
        ({"timezone": "../../etc/passwd"},
         "unknown time zone '../../etc/passwd': use an IANA name such as Europe/Berlin"),
        ({"duration": "3661d"}, "duration '3661d' is longer than 3660d (10 years), the limit"),
        ({"duration": "99999999999d"}, "duration '99999999999d' is longer than 3660d"),
    ],
)  # fmt: skip
def test_windows_validate_cannot_honour_are_refused(window: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        FreezeWindow.model_validate(
            {"cron": "0 0 * * *", "duration": "1h", "reason": "r", **window}
        )
    assert message in str(caught.value)
