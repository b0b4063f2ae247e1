"""Durations and the strict 5-field cron used by freeze windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controller.schedule import last_start, parse_cron, parse_duration, show_duration

FRIDAY_17 = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30m", timedelta(minutes=30)), ("24h", timedelta(hours=24)), ("7d", timedelta(days=7)),
     ("1d12h", timedelta(days=1, hours=12))],
)  # fmt: skip
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "24x", "1h1d", "6 4h", "-1h", "1.5h"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="malformed duration"):
        parse_duration(text)


def test_durations_show_as_days_hours_minutes() -> None:
    assert show_duration(timedelta(hours=50, minutes=3)) == "2d 2h 3m"
    assert show_duration(timedelta(seconds=59)) == "0m"


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
