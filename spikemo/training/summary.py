"""Spread over seeds and folds, defined once: the mean and the sample standard deviation (n - 1), the
definition every results table and model card in the project uses."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation; one value has no spread (0.0)."""
    if not values:
        raise ValueError("mean_and_std of no values")
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.mean(values), spread


def mean_std(values: Sequence[float]) -> str:
    """"mean ± std" to two decimals; one value alone (no spread to show); "–" for none."""
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    mean, spread = mean_and_std(values)
    return f"{mean:.2f} ± {spread:.2f}"
