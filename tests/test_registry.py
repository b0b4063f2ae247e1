"""The registry layer's pure helpers: search filters over model names, and pagination."""

from __future__ import annotations

from typing import Any

import pytest

from controller.registry.filters import filterable, like_any, name_filters, paginate, quote


@pytest.mark.parametrize("name", ["bikes", "o'neil", 'say "hi"', "a b", "ünïcode", "x%_y"])
def test_names_without_both_quotes_or_a_backslash_or_newline_are_filterable(name: str) -> None:
    assert filterable(name)


@pytest.mark.parametrize("name", ['it\'s "both"', "back\\slash", "two\nlines", "cr\rhere"])
def test_names_no_filter_can_carry_are_not_filterable(name: str) -> None:
    assert not filterable(name)


def test_quote_uses_the_quote_the_name_does_not_contain() -> None:
    assert quote("bikes") == "'bikes'"
    assert quote("o'neil") == '"o\'neil"'
    assert quote('say "hi"') == "'say \"hi\"'"


def test_like_pattern_stands_a_wildcard_in_for_what_no_filter_can_carry() -> None:
    assert like_any('it\'s "both\\"\n') == "'it_s \"both_\"_'"


def test_name_filters_chunk_the_names_and_cover_each_once() -> None:
    names = [f"m{i}" for i in range(7)]
    filters = list(name_filters(names, 3))
    assert [chunk for chunk, _ in filters] == [names[0:3], names[3:6], names[6:7]]
    assert filters[0][1] == "name IN ('m0','m1','m2')"
    assert filters[2][1] == "name IN ('m6')"


def test_name_filters_of_no_names_search_nothing() -> None:
    assert list(name_filters([], 100)) == []


def test_name_filters_quote_each_name_for_itself() -> None:
    [(_, filter_string)] = name_filters(["a", "o'neil"], 100)
    assert filter_string == "name IN ('a',\"o'neil\")"


class Page(list[int]):
    """One page of a paged MLflow search: its items and the token for the next page."""

    def __init__(self, items: list[int], token: str | None) -> None:
        super().__init__(items)
        self.token = token


def test_paginate_follows_the_tokens_until_there_is_none() -> None:
    pages = {None: Page([1, 2], "b"), "b": Page([3], "c"), "c": Page([4, 5], "")}
    asked: list[Any] = []

    def search(page_token: str | None) -> Page:
        asked.append(page_token)
        return pages[page_token]

    assert list(paginate(search)) == [1, 2, 3, 4, 5]
    assert asked == [None, "b", "c"]


def test_paginate_reads_one_page_when_the_first_has_no_token() -> None:
    calls = 0

    def search(page_token: str | None) -> Page:
        nonlocal calls
        calls += 1
        return Page([], None)

    assert list(paginate(search)) == []
    assert calls == 1
