"""The soak test's verdict on a process's memory (tests/support/memory.py)."""

import random

import pytest

from tests.support.memory import MIB, judge

MINUTES = 60.0
WARM_UP = 5 * MINUTES


def run(rss_at, minutes: float = 20, every: float = 5.0):
    """Samples every `every` seconds over `minutes` of rss_at(seconds)."""
    return [(t * every, int(rss_at(t * every))) for t in range(int(minutes * MINUTES / every))]


def test_a_steady_leak_grows():
    noise = random.Random(1)
    samples = run(lambda t: 150 * MIB + t / 3600 * 60 * MIB + noise.uniform(-2, 2) * MIB)

    growth = judge(samples, WARM_UP)

    assert growth.grows, growth.describe()
    assert 40 * MIB < growth.slope < 80 * MIB


def test_a_leak_below_the_thresholds_passes():
    assert not judge(run(lambda t: 150 * MIB + t / 3600 * 5 * MIB), WARM_UP).grows


def test_a_cache_that_fills_once_does_not_grow():
    # a step in the first half after the warm-up: the peaks differ, the last half is flat
    samples = run(lambda t: 150 * MIB + (30 * MIB if t > 11 * MINUTES else 0))

    growth = judge(samples, WARM_UP)

    assert growth.late - growth.early == 30 * MIB
    assert not growth.grows


def test_noise_alone_does_not_grow():
    noise = random.Random(2)

    assert not judge(run(lambda t: 150 * MIB + noise.uniform(-3, 3) * MIB), WARM_UP).grows


def test_what_grows_during_the_warm_up_is_left_out():
    samples = run(lambda t: 50 * MIB + min(t, WARM_UP) / WARM_UP * 100 * MIB)

    assert not judge(samples, WARM_UP).grows


def test_a_spike_in_the_last_third_alone_does_not_grow():
    samples = run(lambda t: 150 * MIB + (40 * MIB if 18 * MINUTES < t < 18.2 * MINUTES else 0))

    assert not judge(samples, WARM_UP).grows


def test_too_few_samples_after_the_warm_up_are_refused():
    with pytest.raises(ValueError, match="at least 6"):
        judge(run(lambda t: 100 * MIB, minutes=5.3), WARM_UP)
