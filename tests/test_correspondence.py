"""The dynamical <-> Bayesian correspondence (comparisons.analysis.correspondence) on a stored
fixture whose answer is known by construction (tests/correspondence_fixture.py)."""

import math

import numpy as np
import pytest
import xarray as xr

from comparisons.analysis import correspondence, correspondence_rows
from comparisons.analysis.correspondence import preference_n
from comparisons.contracts import read_occupancy, read_plateaus
from comparisons.errors import InputError
from comparisons.theory import crossings, enumerate_phases

from correspondence_fixture import OCCUPANCY, PLATEAUS, build


@pytest.fixture(scope="module")
def table():
    return correspondence(read_plateaus(PLATEAUS), read_occupancy(OCCUPANCY), 6)


def test_the_stored_fixture_is_the_constructed_one():
    plateaus, occupancy = build()
    xr.testing.assert_identical(read_plateaus(PLATEAUS), plateaus)
    xr.testing.assert_identical(read_occupancy(OCCUPANCY), occupancy)


def test_frequencies_signs_and_coefficients(table):
    moves = [f"{a}->{b}" for a, b in zip(table["from"].values, table["to"].values)]
    assert moves == ["5->6", "6->5"]  # most frequent first
    assert table["runs"].values.tolist() == [6, 1] and table["fraction"].values.tolist() == [0.6, 0.1]
    loss = {p.label: p.loss for p in enumerate_phases(6)}
    assert table["dL"].values[0] == pytest.approx(loss["6"] - loss["5"]) and table["dL"].values[0] < 0
    assert table["dlam"].values.tolist() == [1.5, -1.5]  # (3c - 1)/2 - 7 at c = 6
    assert table["sign_dL"].values.tolist() == [-1, 1] and table["sign_dlam"].values.tolist() == [1, -1]
    assert table["est_from"].values.tolist() == [3.0, 5.0] and table["est_to"].values.tolist() == [5.0, 3.0]


def test_preference_at_both_conventions_is_the_pair_crossing(table):
    five, six = (next(p for p in enumerate_phases(6) if p.label == k) for k in ("5", "6"))
    n1 = crossings([five, six], beta=1.0)[-1]["n"]
    assert table["n_prefer"].sel(convention="tempered").values.tolist() == pytest.approx([n1, n1])
    assert table["n_prefer"].sel(convention="gaussian-sigma1").values.tolist() == pytest.approx([2 * n1, 2 * n1])
    assert table["prefer"].values[:, 0].tolist() == ["above n", "below n"]
    assert 500 < n1 < 700  # the asymptotic 5 -> 6 crossing (about 601)
    # 5+ given more loss and a much larger coefficient than 6: never better above n = 100
    plus = next(p for p in enumerate_phases(6) if p.label == "5+")
    llc = {"6": 8.5, "5+": 30.0}
    assert plus.loss > six.loss
    n, how = preference_n(six, plus, llc, beta=1.0, n_min=100)
    assert math.isnan(n) and how == "never"
    n, how = preference_n(plus, six, llc, beta=0.5, n_min=100)
    assert math.isnan(n) and how == "at every n"


def test_bayesian_steps_and_verdicts(table):
    assert table["bayes_step"].values.tolist() == [True, False]
    assert table["bayes_order"].values.tolist() == [True, False]
    assert table.attrs["bayes_sequence"] == "5 -> 6"
    # 6 of the 7 moves (5 -> 6 six times) go to lower loss and higher complexity; 6 -> 5 does not
    for kind in ("true", "estimate"):
        assert table.attrs[f"answer_{kind}"] == "mostly"
        assert "6 of 7" in table.attrs[f"verdict_{kind}"]
    rows = correspondence_rows(table)
    assert rows[1][0] == "5 -> 6" and rows[1][4] == "above 601" and rows[1][6] == "yes"


def test_threshold_and_missing_bayes():
    plateaus, _ = build()
    strict = correspondence(plateaus, None, 6, min_fraction=0.2)
    assert strict.sizes["move"] == 1 and not strict["bayes_step"].values.any()
    assert strict.attrs["answer_true"] == "yes" and strict.attrs["bayes_sequence"] == ""
    with pytest.raises(InputError, match="min_fraction"):
        correspondence(plateaus, None, 6, min_fraction=2)


def test_phases_without_a_coefficient_leave_the_preference_undecided():
    plateaus, _ = build()
    six = [p for p in enumerate_phases(6) if p.label != "5"]  # 5 unknown: no coefficient
    ds = correspondence(plateaus, None, 6, phases=six)
    assert np.isnan(ds["dlam"].values).all() and set(ds["prefer"].values.ravel()) == {"no coefficient"}
    assert ds.attrs["answer_true"] == "no data"
