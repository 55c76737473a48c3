"""Numbers as people read them (the command line, progress lines, reports)."""

from __future__ import annotations

import math


def readable(value, places: int = 4) -> str:
    """A cost for people: ``places`` decimals in the usual range, and 4 significant digits
    with an exponent for huge or tiny magnitudes (a diverging run's cost of 4.3e+16, not
    seventeen digits), "nan" and "inf" as such."""
    if value is None:
        return "—"
    if not math.isfinite(value):
        return str(value)
    if value != 0 and not 10**-places <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.{places}f}"
