"""The last-applied record survives MLflow's 5,000-character tag values, split when it must be."""

from __future__ import annotations

import json

from controller.state import (
    AUDIT_TAG_PREFIX,
    LAST_APPLIED_PART_TAG,
    LAST_APPLIED_TAG,
    TAG_KEY_LIMIT,
    TAG_VALUE_LIMIT,
    LastApplied,
    audit_tag_key,
)

META = {"commit": "a" * 40, "actor": "ann", "applied_at": "2026-11-29T04:00:00+00:00"}


def long_aliases(count: int = 20) -> dict[str, int]:
    return {f"{i:02d}" + "x" * 253: i + 1 for i in range(count)}


def test_small_record_is_one_json_tag_as_before() -> None:
    record = LastApplied(aliases={"champion": 3}, **META)

    tags = record.to_tags()

    assert list(tags) == [LAST_APPLIED_TAG]
    assert json.loads(tags[LAST_APPLIED_TAG])["aliases"] == {"champion": 3}
    assert LastApplied.from_tags(tags) == record


def test_twenty_aliases_of_255_characters_split_into_tags_within_the_limit() -> None:
    record = LastApplied(aliases=long_aliases(), **META)

    tags = record.to_tags()

    assert len(tags) > 2
    assert max(len(value) for value in tags.values()) <= TAG_VALUE_LIMIT
    assert list(tags)[-1] == LAST_APPLIED_TAG  # written last: it makes the parts visible
    assert LastApplied.from_tags(tags) == record


def test_parts_that_do_not_match_the_head_read_as_never_applied() -> None:
    tags = LastApplied(aliases=long_aliases(), **META).to_tags()
    other = {alias: version + 1 for alias, version in long_aliases().items()}
    stale = LastApplied(aliases=other, **META).to_tags()
    assert stale[f"{LAST_APPLIED_PART_TAG}1"] != tags[f"{LAST_APPLIED_PART_TAG}1"]
    mixed = {**tags, f"{LAST_APPLIED_PART_TAG}1": stale[f"{LAST_APPLIED_PART_TAG}1"]}

    assert LastApplied.from_tags(mixed) is None


def test_missing_part_reads_as_never_applied() -> None:
    tags = LastApplied(aliases=long_aliases(), **META).to_tags()
    del tags[f"{LAST_APPLIED_PART_TAG}2"]

    assert LastApplied.from_tags(tags) is None


def test_left_over_parts_of_an_older_longer_record_are_ignored() -> None:
    old = LastApplied(aliases=long_aliases(), **META).to_tags()
    new = LastApplied(aliases={"champion": 1}, **META).to_tags()

    assert LastApplied.from_tags({**old, **new}) == LastApplied(aliases={"champion": 1}, **META)


def test_mangled_or_missing_head_reads_as_never_applied() -> None:
    assert LastApplied.from_tags({}) is None
    assert LastApplied.from_tags({LAST_APPLIED_TAG: "{not json"}) is None
    assert LastApplied.from_tags({LAST_APPLIED_TAG: '{"parts": "x", "sha256": 1}'}) is None


def test_audit_tag_key_is_the_alias_when_it_fits_and_a_distinct_digest_when_not() -> None:
    first, second = long_aliases(2)

    assert audit_tag_key("champion") == AUDIT_TAG_PREFIX + "champion"
    assert len(audit_tag_key(first)) == TAG_KEY_LIMIT
    assert audit_tag_key(first) != audit_tag_key(second)
