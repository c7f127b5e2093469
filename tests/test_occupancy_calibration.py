"""Occupancy intervals and switch points on toys with known masses (issue 22).

- coverage: the calibrated 95% intervals hold the known masses at >= 90% of the points (the plain
  percentile bootstrap over 8 copies does not);
- a stored fixture whose leading phase goes 5 -> 6 -> 5 -> 6: one interval per crossing, none
  containing another crossing;
- switch refinement: on a toy with a known crossing the reported n lies within 2% of it and its
  interval covers it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bayes_tms.occupancy import occupancy_table, refine_switches, rungs_to_insert, transitions
from occupancy_toys import label_posteriors, load_repeated_switch, reported_cells, two_phase_masses

FIXTURE = Path(__file__).parent / "data" / "repeated_switch_labels.npz"


def _coverage(rows, masses, names) -> float:
    inside = [r["lower"] <= masses[r["n"]][names.index(r["phase"])] <= r["upper"]
              for r in rows if r["phase"] in names]
    return float(np.mean(inside))


def test_intervals_cover_known_masses_at_90_percent_of_points():
    rng = np.random.default_rng(22)
    names = ["3", "4", "5"]
    masses = {100 + i: rng.dirichlet([2, 2, 2]) for i in range(100)}  # 300 points, known exactly
    posts = label_posteriors(masses, names, copies=8, draws=400, rho=0.9, rng=rng)
    calibrated, plain = (reported_cells(occupancy_table(posts, B=400, seed=0, calibrate=c)[0]) for c in (True, False))
    assert _coverage(calibrated, masses, names) >= 0.90
    # why the calibration exists: the plain percentile bootstrap over 8 copies under-covers
    assert _coverage(plain, masses, names) < 0.93  # nominal 0.95
    # it only stretches: same point estimates, never narrower
    for a, b in zip(calibrated, plain):
        assert a["fraction"] == b["fraction"] and a["lower"] <= b["lower"] + 1e-12 and a["upper"] >= b["upper"] - 1e-12


def test_repeated_switch_gets_one_interval_per_crossing():
    posts = load_repeated_switch(FIXTURE)
    _, reps = occupancy_table(posts, B=500, seed=1)
    trans = transitions(reps, features=6)
    assert list(zip(trans["from"].values, trans["to"].values)) == [("5", "6"), ("6", "5"), ("5", "6")]
    assert (trans["n_before"] <= trans["n"]).all() and (trans["n"] <= trans["n_after"]).all()
    assert (trans["lower"] <= trans["n"]).all() and (trans["n"] <= trans["upper"]).all()
    n, lo, hi = trans["n"].values, trans["lower"].values, trans["upper"].values
    for i in range(len(n)):
        others = np.delete(n, i)
        assert not ((lo[i] <= others) & (others <= hi[i])).any(), (i, n, lo, hi)
    # the second 5 -> 6 no longer reaches back to the first crossing (was 598 [296, 598])
    assert lo[2] > n[1]


def test_rungs_are_inserted_only_where_a_bracket_is_wider_than_the_tolerance():
    switches = {"n": [300.0, 1000.0], "n_before": [250, 995], "n_after": [350, 1005]}  # the fields of transitions()
    new = rungs_to_insert((150, 250, 350, 995, 1005), switches, tol=0.02, max_insert=4)
    assert new and all(250 < v < 350 for v in new) and len(new) == 4
    steps = np.diff(np.log([250, *new, 350]))
    assert np.allclose(steps, steps.mean(), atol=0.01)
    assert rungs_to_insert((10, 11), {"n": [10.5], "n_before": [10], "n_after": [11]}, tol=0.02) == []


def test_one_round_of_rungs_resolves_a_switch_that_stays_in_its_bracket():
    """Uncapped, one round inserts every rung the bracket needs: wherever the switch falls inside it,
    its new bracket (integer rungs) is within tol of its n, so no second round runs."""
    from comparisons.theory.ladder import bracket_resolved

    for a, b in ((100, 120), (250, 350), (150, 250), (650, 750), (1000, 1300)):
        new = rungs_to_insert((a, b), {"n": [(a + b) / 2], "n_before": [a], "n_after": [b]}, tol=0.02)
        pts = [a, *new, b]
        assert new == sorted(set(new)) and a < new[0] and new[-1] < b
        # the switch at the lower end of any new bracket: the least n, the strictest tolerance
        assert bracket_resolved({"n": pts[:-1], "n_before": pts[:-1], "n_after": pts[1:]}, 0.02).all(), (a, b)
        assert len(new) <= 1.25 * np.log(b / a) / np.log1p(0.02)  # not many more than steps of 2% need


def test_refinement_brackets_a_known_crossing_within_2_percent():
    n_star = 317.0  # the toy's A -> B crossing, exactly
    names = ["A", "B"]

    sampled = []

    def sample(ns, keep, rnd):
        sampled.append((tuple(ns), tuple(keep), rnd))
        rng = np.random.default_rng(sum(ns))
        return label_posteriors(two_phase_masses(ns, n_star), names, copies=8, draws=1500, rho=0.5, rng=rng)

    def analyse(posts):
        _, reps = occupancy_table(posts, B=400, seed=5)
        return transitions(reps, features=4)

    ladder = (150, 250, 350, 450, 550, 650, 750, 900, 1200)
    posts, switches, history = refine_switches(sample, ladder, analyse, tol=0.02, max_rounds=3)
    assert len(history) >= 2 and history[0]["inserted"]  # the coarse ladder was refined
    # a round samples its new rungs, their bracket and the base rungs below, never the whole ladder;
    # every rung sampled is kept (the base rungs from round 0)
    assert sampled[0] == (ladder, ladder, 0)
    for (ns, keep, rnd), before in zip(sampled[1:], history):
        assert set(keep) == set(before["inserted"]) and max(ns) < 450 and set(keep) <= set(ns)
    assert sorted(posts) == sorted(set(ladder).union(*(h["inserted"] for h in history)))
    assert list(zip(switches["from"].values, switches["to"].values)) == [("A", "B")]
    t = {k: v.item() for k, v in switches.isel(transition=0).data_vars.items()}
    assert t["resolved"] and t["n_after"] - t["n_before"] <= 0.02 * t["n"]
    assert abs(t["n"] - n_star) <= 0.02 * n_star
    assert t["lower"] <= n_star <= t["upper"]
    # on the coarse ladder the chord's root was further off than after refinement
    coarse = history[0]["switches"][0][2]
    assert abs(t["n"] - n_star) < abs(coarse - n_star) or abs(coarse - n_star) <= 0.02 * n_star


@pytest.mark.slow
def test_population_loss_intervals_cover_a_long_reference_run():
    """Quick-preset PT on the population loss: the 95% intervals of short runs hold the fractions
    of a long reference run (10x the sweeps) at >= 90% of the (n, phase) points."""
    import dataclasses

    from bayes_tms.pt import PTConfig, sample_tms_pt
    from comparisons.jobs.bayes_pt import _label_draws

    base = PTConfig(ns=(150, 250, 350, 450, 550, 650), features=6, copies=8, sweeps=500, warmup=200, thin=2,
                    population=True, seed=11)

    def fractions(cfg):
        res = sample_tms_pt(None, cfg)
        _label_draws(res.posteriors, cfg, None, "gated")
        return [reported_cells(occupancy_table(res.posteriors, B=400, seed=cfg.seed, calibrate=c)[0])
                for c in (True, False)]

    ref = {(r["n"], r["phase"]): r["fraction"] for r in fractions(dataclasses.replace(base, sweeps=5000, seed=99))[0]}
    inside, plain = [], []
    for seed in (1, 2, 3):
        for rows, out in zip(fractions(dataclasses.replace(base, seed=seed)), (inside, plain)):
            for r in rows:
                if (r["n"], r["phase"]) in ref and max(ref[(r["n"], r["phase"])], r["fraction"]) > 0.02:
                    out.append(r["lower"] <= ref[(r["n"], r["phase"])] <= r["upper"])
    print(f"population loss: calibrated intervals hold the reference at {np.mean(inside):.3f} of "
          f"{len(inside)} points (plain bootstrap: {np.mean(plain):.3f})")
    assert np.mean(inside) >= 0.90, (np.mean(inside), len(inside))
