"""The one rounding rule of ``results.json``: every number a stage writes is rounded here, to 6 decimals.

Six decimals keep what the pages show (at most 3) and what the claims compare exact, and make two builds of the
same study byte-identical whatever the last bits of a float sum were.
"""

from __future__ import annotations

DIGITS = 6
"""Decimals kept in ``results.json``."""


def rounded(value: float | None, digits: int = DIGITS) -> float | None:
    """``value`` as a Python float rounded to ``digits`` decimals (``round(float(value), digits)``); None stays None.

    Args:
        value: any real number (Python, NumPy or a 0-d tensor's ``float()``), or None.
        digits: decimals kept.

    Returns:
        The rounded float, or None.
    """
    return None if value is None else round(float(value), digits)
