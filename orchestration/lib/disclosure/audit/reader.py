"""What a reader learns from one published string.

The audit reads the release the way a reader would: from `display` and `n_display`
only, never from the engine's status or reason columns.
"""

from __future__ import annotations

import re

SUPPRESSED = "*"
_PERCENT = re.compile(r"^(?:(?P<w>\d{1,3})|<=(?P<b>\d{1,3})|>=(?P<t>\d{1,3})|(?P<lo>\d{1,3})-(?P<hi>\d{1,3}))%$")


class AuditError(ValueError):
    """The release cannot be audited (unreadable display, inconsistent releases, unknown policy)."""


def read_count(text: str, where: str) -> int | None:
    """A published count, or None when suppressed."""
    text = str(text).strip()
    if text == SUPPRESSED:
        return None
    if text.isdigit():
        return int(text)
    raise AuditError(f"{where}: count display {text!r} is neither a whole number nor '*'")


def read_percent(text: str, where: str) -> tuple[int, int] | None:
    """The whole percentages (lo, hi) a displayed rate admits, or None when suppressed."""
    text = str(text).strip()
    if text == SUPPRESSED:
        return None
    match = _PERCENT.match(text)
    if not match:
        raise AuditError(f"{where}: rate display {text!r} is not 'w%', '<=b%', '>=t%', 'lo-hi%' or '*'")
    g = match.groupdict()
    if g["w"] is not None:
        lo = hi = int(g["w"])
    elif g["b"] is not None:
        lo, hi = 0, int(g["b"])
    elif g["t"] is not None:
        lo, hi = int(g["t"]), 100
    else:
        lo, hi = int(g["lo"]), int(g["hi"])
    if not 0 <= lo <= hi <= 100:
        raise AuditError(f"{where}: rate display {text!r} is outside 0-100%")
    return lo, hi


def is_coded(text: str) -> bool:
    """A published rate shown as a range rather than one whole percentage."""
    text = str(text).strip()
    return text != SUPPRESSED and not re.fullmatch(r"\d{1,3}%", text)
