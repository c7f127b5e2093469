"""Dominance counts the unclassified mass; transitions and their predictions follow the run's beta."""

import numpy as np
import pytest

from bayes_tms.occupancy import (dominance, dominance_table, predicted_crossing, predicted_crossing_laplace,
                                 transitions)
from comparisons.errors import InputError
from comparisons.theory import UNCLASSIFIED


def reps_from(table, B=50, seed=0):
    """``{n: (names, boot, point)}`` from ``{n: {label: fraction}}`` with small bootstrap noise."""
    rng = np.random.default_rng(seed)
    out = {}
    for n, fr in table.items():
        names = sorted(fr, key=lambda s: (s == UNCLASSIFIED, s))
        point = np.array([fr[k] for k in names])
        boot = np.clip(point + 0.01 * rng.normal(size=(B, len(names))), 0, 1)
        out[n] = (names, boot, point)
    return out


def test_dominance_lets_unclassified_compete():
    d = dominance(["5", "6", UNCLASSIFIED], [0.3, 0.25, 0.45])
    assert d == {"dominant_all": UNCLASSIFIED, "dominant_classified": "5", "unclassified_fraction": 0.45,
                 "classified_leads": False}
    d = dominance(["5", "6", UNCLASSIFIED], [0.5, 0.2, 0.3])
    assert d["dominant_all"] == d["dominant_classified"] == "5" and d["classified_leads"]
    assert dominance([UNCLASSIFIED], [1.0])["dominant_classified"] == UNCLASSIFIED
    assert dominance(["5", "6"], [0.4, 0.6])["unclassified_fraction"] == 0.0


def test_transitions_report_whether_the_switching_phases_lead_all_the_mass():
    table = {100: {"5": 0.7, "6": 0.1, UNCLASSIFIED: 0.2},
             200: {"5": 0.5, "6": 0.3, UNCLASSIFIED: 0.2},
             400: {"5": 0.1, "6": 0.8, UNCLASSIFIED: 0.1},
             800: {"5": 0.05, "6": 0.9, UNCLASSIFIED: 0.05}}
    trans = transitions(reps_from(table), features=6)
    assert trans.sizes["transition"] == 1 and trans.attrs["beta"] == 1.0
    t = {k: v.item() for k, v in trans.isel(transition=0).data_vars.items()}
    assert (t["from"], t["to"], t["n_before"], t["n_after"]) == ("5", "6", 200, 400)
    assert t["dominance"] == "all" and t["dominant_all_before"] == "5" and t["dominant_all_after"] == "6"
    assert t["unclassified_before"] == 0.2 and t["unclassified_after"] == 0.1 and t["beta"] == 1.0
    # the same switch while the unclassified draws hold most of the mass
    table[200] = {"5": 0.3, "6": 0.2, UNCLASSIFIED: 0.5}
    table[400] = {"5": 0.1, "6": 0.35, UNCLASSIFIED: 0.55}
    trans = transitions(reps_from(table), features=6)
    assert trans.sizes["transition"] == 1
    t = {k: v.item() for k, v in trans.isel(transition=0).data_vars.items()}
    assert (t["from"], t["to"]) == ("5", "6")  # the existing keys keep their meaning
    assert t["dominance"] == "classified_only"
    assert t["dominant_all_before"] == t["dominant_all_after"] == UNCLASSIFIED
    assert t["unclassified_after"] == 0.55
    rows = dominance_table(reps_from(table))
    assert [r["n"] for r in rows] == [100, 200, 400, 800]
    assert [r["classified_leads"] for r in rows] == [True, False, False, True]
    assert [r["dominant_classified"] for r in rows] == ["5", "5", "6", "6"]


def test_predictions_move_with_beta():
    n1 = predicted_crossing("5", "6", 600.0, 6)
    n_half = predicted_crossing("5", "6", 1200.0, 6, beta=0.5)
    assert n_half == pytest.approx(2 * n1, rel=1e-9)
    f1 = predicted_crossing("5", "6", 600.0, 6, level="family")
    f2 = predicted_crossing("5", "6", 2400.0, 6, level="family", beta=0.25, n_max=4e5)
    assert f2 == pytest.approx(4 * f1, rel=1e-9)
    l1 = predicted_crossing_laplace("5", "6", 6)
    l_half = predicted_crossing_laplace("5", "6", 6, beta=0.5)
    assert l1 is not None and l_half == pytest.approx(2 * l1, rel=1e-4)
    table = {200: {"5": 0.9, "6": 0.1}, 400: {"5": 0.8, "6": 0.2}, 800: {"5": 0.6, "6": 0.4},
             1600: {"5": 0.2, "6": 0.8}}
    t = transitions(reps_from(table), features=6, beta=0.5).isel(transition=0)
    assert t["beta"] == 0.5 and t["predicted_n"] == pytest.approx(n_half, rel=1e-9)
    assert t["predicted_n_laplace"] == pytest.approx(l_half, rel=1e-9)
    with pytest.raises(InputError, match="beta"):
        transitions(reps_from(table), features=6, beta=-1.0)


def test_a_switch_back_is_judged_against_the_crossing_it_flickers_around():
    # 5 -> 6 -> 5 -> 6 around the pair's crossing: the 6 -> 5 step gets that crossing too, as the
    # asymptotic column does (c = 6: the only crossing, 225; c = 8: the second of two, 193, not
    # the 6 -> 5 crossing near 37, which only a switch near it is judged against)
    for c, near in ((6, 225.0), (8, 193.0)):
        up = predicted_crossing_laplace("5", "6", c)
        assert up == pytest.approx(near, rel=0.02)
        assert predicted_crossing_laplace("6", "5", c, near=240.0) == pytest.approx(up)
        assert predicted_crossing_laplace("5", "6", c, near=240.0) == pytest.approx(up)
    assert predicted_crossing_laplace("6", "5", 6) is None  # 5 never takes over from 6 at c = 6
    low = predicted_crossing_laplace("6", "5", 8)
    assert 25 < low < 50 and predicted_crossing_laplace("6", "5", 8, near=40.0) == pytest.approx(low)
    table = {150: {"5": 0.9, "6": 0.1}, 200: {"5": 0.4, "6": 0.6}, 250: {"5": 0.6, "6": 0.4},
             300: {"5": 0.2, "6": 0.8}}
    t = transitions(reps_from(table), features=8)
    assert [(str(a), str(b)) for a, b in zip(t["from"].values, t["to"].values)] == [("5", "6"), ("6", "5"), ("5", "6")]
    np.testing.assert_allclose(t["predicted_n_laplace"].values, predicted_crossing_laplace("5", "6", 8))
