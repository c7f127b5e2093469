"""Ladder bridge reweighting: exact on point-mass regions, and indifferent to chain counts."""

import arviz as az
import numpy as np
import pytest
import xarray as xr

from bayes_tms.reweight import block_losses, reweighted_occupancy
from comparisons.theory import classify, empirical_loss, enumerate_phases, sample_inputs


def fake_posterior(points, chains_per_point, draws=5, seed=0):
    """Chains each stuck exactly at one point; ``points``: list of (W, b)."""
    rng = np.random.default_rng(seed)
    Ws, bs = [], []
    for (W, b), k in zip(points, chains_per_point):
        for _ in range(k):
            Ws.append(np.broadcast_to(W, (draws,) + W.shape))
            bs.append(np.broadcast_to(b, (draws,) + b.shape))
    W = np.array(Ws)
    b = np.array(bs)
    order = rng.permutation(len(W))
    W, b = W[order], b[order]
    labels, _ = classify(W, b)
    post = xr.Dataset({"W": (("chain", "draw", "hidden", "feature"), W),
                       "b": (("chain", "draw", "feature"), b),
                       "phase": (("chain", "draw"), labels)})
    return az.InferenceData(posterior=post)


def test_point_masses_follow_the_exact_likelihood_ratio_whatever_the_chain_counts():
    by = {p.label: p for p in enumerate_phases(6)}
    five, six = (by["5"].W, by["5"].b), (by["6"].W, by["6"].b)
    ns = [100, 150, 230, 400]
    x = sample_inputs(max(ns), 6, 3)
    # equal chain counts at the first rung (so the start is 50/50), then wildly unequal
    counts = {100: (4, 4), 150: (1, 7), 230: (6, 1), 400: (2, 9)}
    posts = {n: fake_posterior([five, six], counts[n], seed=n) for n in ns}
    occ, reps = reweighted_occupancy(posts, x, B=50, seed=1)
    assert list(occ["estimator"].values) == ["nuts_bridge"] and occ.attrs["beta"] == 1.0
    for n in ns:
        # exact: log m5/m6 = -(S_n(5) - S_n(6)) + (S_100(5) - S_100(6)) with S = n L_n
        S = lambda w: n * empirical_loss(*w, x[:n]) - 100 * empirical_loss(*w, x[:100])  # noqa: E731
        expect = 1.0 / (1.0 + np.exp(-(S(six) - S(five))))  # mass of "5"
        got = occ.sel(estimator="nuts_bridge", n=n, phase="5")
        assert float(got["fraction"]) == pytest.approx(expect, rel=1e-9)
        assert float(got["log_mass"]) == pytest.approx(np.log(expect), rel=1e-9)
    names, boot, point = reps[400]
    assert boot.shape == (50, len(names)) and point.sum() == pytest.approx(1.0)


def test_block_losses_equal_the_dense_sum():
    by = {p.label: p for p in enumerate_phases(6)}
    post = fake_posterior([(by["6"].W + 0.1, by["6"].b), (by["5"].W, by["5"].b - 0.05)], (2, 1))
    x = sample_inputs(200, 6, 9)[120:200]
    got = block_losses(post, x)
    W = post.posterior["W"].values
    b = post.posterior["b"].values
    np.testing.assert_allclose(got, 80 * empirical_loss(W, b, x), rtol=1e-12)


def test_region_first_seen_later_enters_with_its_draw_fraction():
    by = {p.label: p for p in enumerate_phases(6)}
    five, six = (by["5"].W, by["5"].b), (by["6"].W, by["6"].b)
    x = sample_inputs(300, 6, 4)
    posts = {100: fake_posterior([five], (4,)), 300: fake_posterior([five, six], (3, 1))}
    occ, _ = reweighted_occupancy(posts, x, B=20)
    at300 = occ["fraction"].sel(estimator="nuts_bridge", n=300)
    assert float(at300.sel(phase="6")) == pytest.approx(0.25) and float(at300.sel(phase="5")) == pytest.approx(0.75)
    assert np.isnan(float(occ["fraction"].sel(estimator="nuts_bridge", n=100, phase="6")))  # not there yet
