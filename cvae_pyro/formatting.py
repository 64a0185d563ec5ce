"""How numbers are written in the results files, the README and the notebooks.

One function per kind of number, so that a value reads the same wherever it appears.
"""

from __future__ import annotations


def format_pm(mean: float, stderr: float, digits: int = 2) -> str:
    """A mean and its standard error as ``"66.49 ± 0.21"``.

    Args:
        mean: the estimate, for example a negative CLL in nats per image.
        stderr: its standard error, in the same unit.
        digits: decimals of both numbers.

    Returns:
        Both numbers rounded to ``digits`` decimals, joined by `` ± ``. Give the
        unrounded values: rounding an already rounded number (say ``0.1150`` read back
        from a CSV written with four decimals) can move the last digit.
    """
    return f"{mean:.{digits}f} ± {stderr:.{digits}f}"
