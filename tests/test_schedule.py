"""Cosine / one-cycle schedules against fastai's formula and chapter 13's table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numbaconv.schedule import (
    combined_cos,
    one_cycle_schedules,
    sched_cos,
    schedule_values,
    training_positions,
)

POSITIONS = [0.0, 0.125, 0.25, 0.5, 0.75, 1.0]
# chapter13.md §3.5, rounded as printed there.
TABLE = {
    0.01: [4e-4, 0.0052, 0.01, 0.0075, 0.0025, 1e-7],
    0.06: [0.0024, 0.0312, 0.06, 0.045, 0.015, 6e-7],
    0.1: [0.004, 0.052, 0.1, 0.075, 0.025, 1e-6],
}
MOM_TABLE = [0.95, 0.90, 0.85, 0.875, 0.925, 0.95]


def fastai_sched_cos(start, end, pos):
    """fastai's definition, verbatim in math form."""
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


@pytest.mark.parametrize("lr_max", sorted(TABLE))
def test_one_cycle_lr_matches_chapter_table(lr_max):
    lr_fn, _ = one_cycle_schedules(lr_max)
    for pos, want in zip(POSITIONS, TABLE[lr_max], strict=True):
        assert lr_fn(pos) == pytest.approx(want, rel=1e-3)
    np.testing.assert_allclose(lr_fn(np.array(POSITIONS)), TABLE[lr_max], rtol=1e-3)


def test_one_cycle_mom_matches_chapter_table():
    _, mom_fn = one_cycle_schedules(0.01)
    np.testing.assert_allclose(mom_fn(np.array(POSITIONS)), MOM_TABLE, rtol=1e-3)


@pytest.mark.parametrize("lr_max", sorted(TABLE))
def test_phase_ends_are_exact(lr_max):
    lr_fn, mom_fn = one_cycle_schedules(lr_max)
    assert lr_fn(0.0) == lr_max / 25
    assert lr_fn(0.25) == lr_max
    assert lr_fn(1.0) == lr_max / 1e5
    assert (mom_fn(0.0), mom_fn(0.25), mom_fn(1.0)) == (0.95, 0.85, 0.95)
    ends = lr_fn(np.array([0.0, 0.25, 1.0]))
    assert ends.tolist() == [lr_max / 25, lr_max, lr_max / 1e5]


def test_sched_cos_hand_values():
    assert sched_cos(2.0, 4.0, 0.0) == 2.0
    assert sched_cos(2.0, 4.0, 1.0) == 4.0
    assert sched_cos(2.0, 4.0, 0.5) == pytest.approx(3.0, rel=1e-15)
    # pos 1/3: (1 + cos(2π/3)) / 2 = 1/4 of the way.
    assert sched_cos(2.0, 4.0, 1 / 3) == pytest.approx(2.5, rel=1e-14)


@settings(max_examples=60, deadline=None)
@given(
    start=st.floats(-10, 10),
    end=st.floats(-10, 10),
    pos=st.floats(0, 1),
)
def test_sched_cos_equals_fastai_formula(start, end, pos):
    scale = max(abs(start), abs(end), 1e-300)
    assert abs(sched_cos(start, end, pos) - fastai_sched_cos(start, end, pos)) <= 4e-16 * scale


@settings(max_examples=60, deadline=None)
@given(pct=st.floats(0.05, 0.95), pos=st.floats(0, 1))
def test_combined_cos_phases_follow_fastai(pct, pos):
    start, middle, end = 0.3, 1.7, -0.4
    fn = combined_cos(pct, start, middle, end)
    if pos < pct:
        want = fastai_sched_cos(start, middle, pos / pct)
    else:
        want = fastai_sched_cos(middle, end, (pos - pct) / (1 - pct))
    assert fn(pos) == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert fn(np.array([pos]))[0] == fn(pos)


def test_combined_cos_vectorised_keeps_shape_and_values():
    fn = combined_cos(0.3, 1.0, 2.0, 0.5)
    pos = np.linspace(0, 1, 12).reshape(3, 4)
    values = fn(pos)
    assert values.shape == (3, 4) and values.dtype == np.float64
    np.testing.assert_array_equal(values, [[fn(float(p)) for p in row] for row in pos])
    assert isinstance(fn(0.5), float)


def test_combined_cos_monotone_phases_and_continuity():
    lr_fn, mom_fn = one_cycle_schedules(0.01)
    pos = np.linspace(0, 1, 401)
    lr = lr_fn(pos)
    rising = lr[pos <= 0.25]
    falling = lr[pos >= 0.25]
    assert np.all(np.diff(rising) > 0) and np.all(np.diff(falling) < 0)
    mom = mom_fn(pos)
    assert np.all(np.diff(mom[pos <= 0.25]) < 0) and np.all(np.diff(mom[pos >= 0.25]) > 0)
    just_before = lr_fn(np.nextafter(0.25, 0))
    assert just_before == pytest.approx(0.01, rel=1e-12)


def test_combined_cos_single_phase_edges():
    only_second = combined_cos(0.0, 5.0, 1.0, 3.0)
    assert only_second(0.0) == 1.0 and only_second(1.0) == 3.0
    only_first = combined_cos(1.0, 5.0, 1.0, 3.0)
    assert only_first(0.0) == 5.0 and only_first(1.0) == 1.0
    assert only_first(0.5) == pytest.approx(3.0, rel=1e-15)


def test_one_cycle_custom_arguments():
    lr_fn, mom_fn = one_cycle_schedules(
        1.0, div=10.0, div_final=100.0, pct_start=0.5, moms=(0.9, 0.8, 0.7)
    )
    assert (lr_fn(0.0), lr_fn(0.5), lr_fn(1.0)) == (0.1, 1.0, 0.01)
    assert (mom_fn(0.0), mom_fn(0.5), mom_fn(1.0)) == (0.9, 0.8, 0.7)
    assert lr_fn(0.25) == pytest.approx(0.55, rel=1e-14)
    _, default_mom = one_cycle_schedules(1.0, moms=None)
    assert default_mom(0.25) == 0.85


def test_training_positions_and_schedule_values():
    np.testing.assert_array_equal(training_positions(4), [0.0, 0.25, 0.5, 0.75])
    assert training_positions(0).shape == (0,)
    lr_fn, mom_fn = one_cycle_schedules(0.06)
    values = schedule_values({"lr": lr_fn, "mom": mom_fn}, 8)
    assert list(values) == ["lr", "mom"]
    for name, fn in (("lr", lr_fn), ("mom", mom_fn)):
        assert values[name].shape == (8,)
        np.testing.assert_array_equal(values[name], [fn(i / 8) for i in range(8)])
    assert values["lr"][2] == 0.06  # step 2 of 8 is pos 0.25, the peak


# ----------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("pos", [-0.01, 1.01, float("nan"), float("inf")])
def test_positions_outside_unit_interval(pos):
    fn = combined_cos(0.25, 1.0, 2.0, 3.0)
    with pytest.raises(ValueError, match="pos must lie in"):
        fn(pos)
    with pytest.raises(ValueError, match="pos must lie in"):
        fn(np.array([0.5, pos]))
    with pytest.raises(ValueError, match="pos must lie in"):
        sched_cos(1.0, 2.0, pos)


def test_non_numeric_positions():
    with pytest.raises(TypeError, match="pos must be a real number"):
        sched_cos(1.0, 2.0, "0.5")
    with pytest.raises(TypeError, match="pos must be a real number"):
        sched_cos(1.0, 2.0, True)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: combined_cos(1.5, 1, 2, 3), ValueError, r"pct must be in \[0, 1\]"),
        (lambda: combined_cos(0.5, float("nan"), 2, 3), ValueError, "start must be finite"),
        (lambda: combined_cos(0.5, 1, None, 3), TypeError, "middle must be a real number"),
        (lambda: sched_cos(1, "2", 0.5), TypeError, "end must be a real number"),
        (lambda: one_cycle_schedules(-0.1), ValueError, "lr_max must be >= 0"),
        (lambda: one_cycle_schedules(0.1, div=0), ValueError, "div must be > 0"),
        (lambda: one_cycle_schedules(0.1, div_final=-1), ValueError, "div_final must be > 0"),
        (lambda: one_cycle_schedules(0.1, pct_start=-0.1), ValueError, "pct_start must be in"),
        (lambda: one_cycle_schedules(0.1, moms=(0.9, 0.8)), ValueError, "moms must be three"),
        (lambda: one_cycle_schedules(0.1, moms=(0.9, "a", 0.8)), TypeError, r"moms\[1\]"),
        (lambda: training_positions(-1), ValueError, "n_steps must be >= 0"),
        (lambda: training_positions(2.0), TypeError, "n_steps must be an integer"),
        (lambda: schedule_values([sched_cos], 3), TypeError, "schedules must be a mapping"),
        (lambda: schedule_values({"lr": 0.1}, 3), TypeError, r"schedules\['lr'\]"),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()
