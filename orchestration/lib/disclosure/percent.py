"""Percentages as published: whole numbers (half up), top/bottom codes and size bands.

All arithmetic is on integers, so a displayed code and the numerator range it admits
never disagree by a float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestration.lib.disclosure.policy import RateBand


def whole_percent(numerator: int, n: int) -> int:
    """100 * numerator / n rounded half up, in integers."""
    return (200 * numerator + n) // (2 * n)


@dataclass(frozen=True)
class Coded:
    display: str
    status: str  # 'published' or 'recoded'
    reason: str  # PUBLISHED, RECODE_TOP, RECODE_BOTTOM, RECODE_BAND
    lo: int  # the whole percentages the display admits, lo..hi
    hi: int


def code_percent(numerator: int, n: int, band: RateBand) -> Coded:
    w = whole_percent(numerator, n)
    if band.bottom_max is not None and w <= band.bottom_max:
        return Coded(f"<={band.bottom_max}%", "recoded", "RECODE_BOTTOM", 0, band.bottom_max)
    if band.top_min is not None and w >= band.top_min:
        return Coded(f">={band.top_min}%", "recoded", "RECODE_TOP", band.top_min, 100)
    for lo, hi in band.intervals:
        if lo <= w <= hi:
            if lo == hi:
                return Coded(f"{w}%", "published", "PUBLISHED", w, w)
            return Coded(f"{lo}-{hi}%", "recoded", "RECODE_BAND", lo, hi)
    return Coded(f"{w}%", "published", "PUBLISHED", w, w)


def numerator_range(n: int, lo_pct: int, hi_pct: int) -> tuple[int, int]:
    """Numerators k in 0..n whose whole percentage lies in lo_pct..hi_pct (as an interval).

    whole_percent(k, n) >= lo  <=>  200k >= (2lo - 1) n;  whole_percent(k, n) <= hi  <=>  200k < (2hi + 1) n.
    """
    k_lo = max(0, -(-((2 * lo_pct - 1) * n) // 200))
    k_hi = min(n, ((2 * hi_pct + 1) * n - 1) // 200)
    return k_lo, k_hi
