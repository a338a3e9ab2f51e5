"""Percentiles of durations from histograms of log-spaced buckets (the rollup ``appeal_times``).

The buckets are those of the SQL function ``analytics.duration_bucket`` (migration 0004): bucket 0 holds
durations under a minute, bucket ``i >= 1`` durations in ``[60 * 2^((i-1)/8), 60 * 2^(i/8))`` seconds. Histograms
of any set of days and weeks add up bucket by bucket, so a report reads a bounded number of rows whatever the
number of appeals. Precision: a duration is represented by the geometric middle of its bucket, within
``2^(1/16) - 1`` (4.4 %) of its true value; so are the median and p90 read from a histogram (compared with
``percentile_cont`` over the exact durations, which interpolates between the same neighbours).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

BUCKETS = 161
PER_OCTAVE = 8
RELATIVE_PRECISION = 2 ** (1 / (2 * PER_OCTAVE)) - 1
"""Largest relative error of a duration (and so of a percentile) read from its bucket."""


def bucket(seconds: float) -> int:
    """The bucket of a duration: the same as ``analytics.duration_bucket`` in SQL."""
    if seconds < 60:
        return 0
    return min(BUCKETS - 1, math.floor(PER_OCTAVE * math.log(seconds / 60) / math.log(2)) + 1)


def representative(index: int) -> float:
    """Seconds standing for every duration of bucket ``index``: the geometric middle of its bounds."""
    if index <= 0:
        return 0.0
    return 60.0 * 2 ** ((index - 0.5) / PER_OCTAVE)


def add(histograms: Iterable[Sequence[int]]) -> list[int]:
    total = [0] * BUCKETS
    for histogram in histograms:
        for index, count in enumerate(histogram):
            if count:
                total[index] += count
    return total


def percentile(histogram: Sequence[int], q: float) -> float | None:
    """Like ``percentile_cont(q)``: the value at rank ``q * (n - 1)`` of the sorted durations, interpolated
    linearly between its two neighbours, each taken as its bucket's representative. None when empty."""
    n = sum(histogram)
    if n == 0:
        return None
    rank = q * (n - 1)
    low, high = math.floor(rank), math.ceil(rank)
    values: dict[int, float] = {}
    seen = 0
    for index, count in enumerate(histogram):
        if not count:
            continue
        for wanted in (low, high):
            if wanted not in values and seen <= wanted < seen + count:
                values[wanted] = representative(index)
        seen += count
        if high in values:
            break
    return values[low] + (values[high] - values[low]) * (rank - low)
