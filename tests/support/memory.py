"""Whether a process's resident memory keeps growing, judged from samples over a long run.

A Python process grows at first (imports done lazily, caches filling, the allocator's
arenas, connection pools) and then holds steady; a leak keeps it growing as long as the
work goes on. So the samples of a warm-up are left out, and the rest must show both:
- growth: the median of the last third stands above the median of the first third by
  more than `min_growth` bytes and `relative` of it, and
- a slope: the line through the last half (Theil–Sen: the median of the slopes between
  every two samples) still rises faster than `max_slope` bytes an hour.
Medians, because a request in flight (an upload's buffers) or a garbage collection moves a
sample or two a lot, and a leak moves them all. A cache that filled once makes growth but
no slope after it; noise or a burst makes neither; a leak makes both. Over 20 minutes with
5 of warm-up, the middles of the thirds lie 10 minutes apart, so a process of 200 MiB is
caught leaking from about 24 MiB an hour (4 MiB in 10 minutes; 2% of a larger one): a
few KiB per deposit at 2 deposits a second. A shorter run sees less.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIB = 1024 * 1024
MIN_GROWTH = 4 * MIB
RELATIVE_GROWTH = 0.02
MAX_SLOPE = 12 * MIB  # bytes an hour: 1 KiB per deposit at 3.3 deposits/s


@dataclass(frozen=True)
class Growth:
    """The verdict on one process's samples (bytes; slope in bytes an hour)."""

    early: int  # the median of the first third after the warm-up
    late: int  # the median of the last third
    slope: float
    grows: bool

    def describe(self) -> str:
        return (
            f"median {self.early / MIB:.0f} → {self.late / MIB:.0f} MiB, "
            f"last half {self.slope / MIB:+.1f} MiB/h"
        )


def judge(
    samples: Sequence[tuple[float, int]],
    warm_up: float,
    *,
    min_growth: int = MIN_GROWTH,
    relative: float = RELATIVE_GROWTH,
    max_slope: float = MAX_SLOPE,
) -> Growth:
    """`samples`: (seconds since the start, resident bytes), in time order; those before
    `warm_up` seconds are left out. Needs at least six samples after the warm-up."""
    kept = [(t, rss) for t, rss in samples if t >= warm_up]
    if len(kept) < 6:
        raise ValueError(f"{len(kept)} samples after the warm-up; at least 6 are needed")
    third = len(kept) // 3
    early = int(statistics.median(rss for _, rss in kept[:third]))
    late = int(statistics.median(rss for _, rss in kept[-third:]))
    half = kept[len(kept) // 2 :]
    slope = statistics.median(
        (b_rss - a_rss) / (b_t - a_t)
        for index, (a_t, a_rss) in enumerate(half)
        for b_t, b_rss in half[index + 1 :]
        if b_t > a_t
    )
    grew = late - early > max(min_growth, relative * early)
    return Growth(early, late, slope * 3600, grows=grew and slope * 3600 > max_slope)
