"""`did you mean 'fraud'?` for a mistyped model or alias name: pure, from names already read."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`; did you mean 'fraud'?` when one known name is close to `name`, else nothing."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""
