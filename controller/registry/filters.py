"""MLflow search filters over model names, and pagination: pure, so unit-tested alone."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

# What MLflow's filter syntax cannot carry inside a quoted value: it has no escapes, and it
# reads a backslash as one.
_UNFILTERABLE = re.compile(r"[\\\r\n]")


def filterable(name: str) -> bool:
    """Whether a search filter can name this model exactly; if not, it is read directly."""
    return not (("'" in name and '"' in name) or _UNFILTERABLE.search(name))


def quote(name: str) -> str:
    mark = '"' if "'" in name else "'"
    return f"{mark}{name}{mark}"


def like_any(name: str) -> str:
    """A LIKE pattern matching `name` and maybe a few more: `_` stands in for what no filter
    can carry, and the caller keeps only the exact name."""
    return "'" + re.sub(r"['\\\r\n]", "_", name) + "'"


def name_filters(names: list[str], per_search: int) -> Iterator[tuple[list[str], str]]:
    """`name IN (...)` filters over chunks of names, short enough for a GET query string."""
    for start in range(0, len(names), per_search):
        chunk = names[start : start + per_search]
        yield chunk, f"name IN ({','.join(quote(n) for n in chunk)})"


def paginate(search: Callable[..., Any]) -> Iterator[Any]:
    token = None
    while True:
        page = search(page_token=token)
        yield from page
        token = page.token
        if not token:
            return
