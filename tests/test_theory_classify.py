"""The phase classifier: invariant, robust to small noise, and never guessing."""

import numpy as np
import pytest
import xarray as xr

from comparisons.errors import InputError
from comparisons.theory import UNCLASSIFIED, classify, classify_dataarrays, enumerate_phases, phase_distances


def random_orthogonal(rng):
    th = rng.uniform(0, 2 * np.pi)
    Q = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    return Q @ np.diag([1.0, -1.0]) if rng.integers(2) else Q


@pytest.mark.parametrize("c", range(2, 9))
def test_every_phase_is_recovered_after_symmetry_and_noise(c):
    rng = np.random.default_rng(100 + c)
    phases = enumerate_phases(c)
    noise = min(0.02, 1 / (8 * c))  # the + bias optimum 1/(2c) sits 4 noise sd from its wall
    W, b, truth = [], [], []
    for p in phases:
        for _ in range(5):
            perm = rng.permutation(c)
            W.append((random_orthogonal(rng) @ p.W)[:, perm] + noise * rng.normal(size=(2, c)))
            b.append(p.b[perm] + noise * rng.normal(size=c))
            truth.append(p.label)
    labels, dist = classify(np.array(W), np.array(b), phases)
    assert list(labels) == truth
    assert np.all(dist < 0.2)


def test_exact_representatives_have_zero_distance_and_labels_are_invariant():
    rng = np.random.default_rng(0)
    phases = enumerate_phases(6)
    W = np.stack([p.W for p in phases])
    b = np.stack([p.b for p in phases])
    labels, dist = classify(W, b, phases)
    assert list(labels) == [p.label for p in phases]
    np.testing.assert_allclose(dist, 0.0, atol=1e-9)
    Wn, bn = W + 0.05 * rng.normal(size=W.shape), b + 0.03 * rng.normal(size=b.shape)
    perm = rng.permutation(6)
    Q = random_orthogonal(rng)
    l1, d1 = classify(Wn, bn, phases)
    l2, d2 = classify((Q @ Wn)[..., perm], bn[..., perm], phases)
    assert list(l1) == list(l2)
    np.testing.assert_allclose(d1, d2, atol=1e-9)
    D1 = phase_distances(Wn, bn, phases)
    np.testing.assert_allclose(D1, phase_distances((Q @ Wn)[..., perm], bn[..., perm], phases), atol=1e-9)


def test_points_far_from_every_phase_are_unclassified():
    rng = np.random.default_rng(1)
    by = {p.label: p for p in enumerate_phases(6)}
    six, five = by["6"], by["5"]
    far = []
    W = six.W.copy()
    W[:, 0] *= 0.45  # one vertex pulled inside its neighbours' chord: not in convex position
    far.append((W, six.b))
    far.append((3 * six.W, six.b))  # right shape, wrong scale
    far.append((six.W, six.b + 0.6))  # right shape, wrong biases
    W = five.W.copy()
    W[:, 5] = [0.9, 0.0]  # a sixth column alongside a 5-gon vertex
    far.append((W, five.b))
    far.append((np.zeros((2, 6)), np.full(6, 0.5)))  # every output constant
    for W, b in far:
        label, dist = classify(W, b)
        assert label == UNCLASSIFIED and dist > 0
    labels, _ = classify(rng.normal(size=(200, 2, 6)) * 2, rng.normal(size=(200, 6)))
    assert np.mean(labels == UNCLASSIFIED) > 0.9


def test_batch_shapes_and_dataarray_wrapper():
    rng = np.random.default_rng(2)
    six = enumerate_phases(6)[0]
    W = six.W + 0.01 * rng.normal(size=(3, 4, 2, 6))
    b = six.b + 0.01 * rng.normal(size=(3, 4, 6))
    labels, dist = classify(W, b)
    assert labels.shape == dist.shape == (3, 4) and np.all(labels == "6")
    Wda = xr.DataArray(W, dims=("chain", "draw", "hidden", "feature"), coords={"chain": [0, 1, 2]})
    bda = xr.DataArray(b, dims=("chain", "draw", "feature"))
    lab, d = classify_dataarrays(Wda, bda)
    assert lab.dims == ("chain", "draw") and list(lab.chain.values) == [0, 1, 2]
    assert np.all(lab.values == "6")
    with pytest.raises(InputError):
        classify(np.zeros((3, 6)), np.zeros(6))


# --- the paper's hull rule -------------------------------------------------------------------

def scipy_hull_count(P):
    """Vertices of the convex hull of the points ``P[2, m]`` by Qhull, degenerate cases by hand."""
    from scipy.spatial import ConvexHull, QhullError

    pts = np.unique(P.T, axis=0)
    if len(pts) <= 2:
        return len(pts)
    try:
        return len(ConvexHull(pts).vertices)
    except QhullError:  # every point on one line: the hull is a segment
        return 2


def test_hull_vertex_counts_agree_with_qhull_on_random_draws():
    from comparisons.theory import hull_vertices

    rng = np.random.default_rng(11)
    for c in (3, 5, 6, 8):
        W = rng.normal(size=(300, 2, c)) * rng.uniform(0.2, 3.0, size=(300, 1, 1))
        present = rng.random((300, c)) < 0.8
        counts = hull_vertices(W, present).sum(axis=-1)
        expected = [scipy_hull_count(W[i][:, present[i]]) for i in range(300)]
        assert counts.tolist() == expected
        assert set(expected) >= set(range(2, min(c, 5) + 1))  # the draws exercise several hull sizes


def test_hull_degenerate_cases_are_counted_explicitly():
    from comparisons.theory import hull_vertices

    rng = np.random.default_rng(12)
    cases = []
    for _ in range(100):  # collinear sets: a segment, whatever the number of points on it
        d = rng.normal(size=2)
        t = rng.uniform(-2, 2, size=6)
        cases.append((np.outer(d, t) + rng.normal(size=(2, 1)), 2))
    cases.append((np.zeros((2, 6)), 1))  # six copies of one point
    cases.append((np.array([[1.0, 1.0, -1.0, -1.0], [0.0, 0.0, 0.0, 0.0]]), 2))  # two doubled points
    square = np.array([[1.0, 0.0, -1.0, 0.0, 0.5, 0.0], [0.0, 1.0, 0.0, -1.0, 0.5, 0.0]])
    cases.append((square, 4))  # an edge midpoint and the centre are not vertices
    cases.append((np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0 + 1e-6]]), 3))  # a thin but real triangle
    for W, k in cases:
        assert int(hull_vertices(W).sum()) == k == scipy_hull_count(W)
    assert int(hull_vertices(np.ones((2, 3)), np.zeros(3, bool)).sum()) == 0  # nothing present


def test_hull_rule_labels_every_draw_and_agrees_with_the_gated_rule_on_phase_points():
    from comparisons.theory import hull_structure, phase_label

    rng = np.random.default_rng(13)
    for c in range(2, 9):
        phases = enumerate_phases(c)
        W = np.stack([p.W for p in phases])
        b = np.stack([p.b for p in phases])
        labels, dist = classify(W, b, phases, rule="hull")
        assert list(labels) == [p.label for p in phases]  # exact k-gon points get their own label
        np.testing.assert_allclose(dist, 0.0, atol=1e-9)
        Wn = W + 0.01 * rng.normal(size=W.shape)
        bn = b + min(0.01, 1 / (8 * c)) * rng.normal(size=b.shape)
        gated, _ = classify(Wn, bn, phases)
        hull, _ = classify(Wn, bn, phases, rule="hull")
        assert list(hull) == list(gated) == [p.label for p in phases]
    # off the critical points: every draw is labelled by its structure
    W = rng.normal(size=(500, 2, 6)) * 1.5
    b = rng.normal(size=(500, 6))
    labels, dist = classify(W, b, rule="hull")
    assert UNCLASSIFIED not in set(labels.tolist())
    k, sigma, phi = hull_structure(W, b)
    assert labels.tolist() == [phase_label(*t) for t in zip(k.tolist(), sigma.tolist(), phi.tolist())]
    known = {p.label for p in enumerate_phases(6)}
    inside = np.isin(labels, list(known))
    assert np.all(np.isfinite(dist[inside])) and np.all(np.isnan(dist[~inside]))


def test_hull_rule_on_hand_made_points_and_batches():
    six = {p.label: p for p in enumerate_phases(6)}["6"]
    W = six.W.copy()
    W[:, 0] *= 0.45  # pulled inside its neighbours' chord: gated refuses, the hull sees a 5-gon
    assert classify(W, six.b)[0] == UNCLASSIFIED and classify(W, six.b, rule="hull")[0] == "5"
    W = np.zeros((2, 6))
    W[:, 0] = [1.0, 0.0]  # one column on, two + columns, three dead
    b = np.array([0.0, 0.1, 0.1, -0.2, -0.2, -0.2])
    assert classify(W, b, rule="hull")[0] == "1++"
    assert classify(np.zeros((2, 6)), np.full(6, 0.5), rule="hull")[0] == "0++++++"
    W = six.W.copy()
    b = six.b.copy()
    b[[0, 2]] = -2.0  # two vertices switched off by their bias
    assert classify(W, b, rule="hull")[0] == "6--"
    rng = np.random.default_rng(14)
    Wb = six.W + 0.01 * rng.normal(size=(3, 4, 2, 6))
    bb = six.b + 0.01 * rng.normal(size=(3, 4, 6))
    labels, dist = classify(Wb, bb, rule="hull")
    assert labels.shape == dist.shape == (3, 4) and np.all(labels == "6")
    lab, d = classify_dataarrays(xr.DataArray(Wb, dims=("chain", "draw", "hidden", "feature")),
                                 xr.DataArray(bb, dims=("chain", "draw", "feature")), rule="hull")
    assert lab.dims == ("chain", "draw") and lab.attrs["rule"] == "hull" and np.all(lab.values == "6")
    with pytest.raises(InputError, match="rule: expected one of gated, hull, got 'paper'"):
        classify(Wb, bb, rule="paper")


def test_gated_rule_is_unchanged_by_the_rule_argument():
    rng = np.random.default_rng(15)
    W = rng.normal(size=(200, 2, 5))
    b = rng.normal(size=(200, 5))
    phases = enumerate_phases(5)
    l0, d0 = classify(W, b, phases)
    l1, d1 = classify(W, b, phases, rule="gated")
    assert l0.tolist() == l1.tolist()
    np.testing.assert_array_equal(d0, d1)


def test_hull_rule_classifies_many_draws_quickly():
    import time

    rng = np.random.default_rng(16)
    phases = enumerate_phases(6)
    W = rng.normal(size=(4, 25_000, 2, 6))
    b = rng.normal(size=(4, 25_000, 6))
    t0 = time.perf_counter()
    labels, _ = classify(W, b, phases, rule="hull")
    assert labels.shape == (4, 25_000)
    assert time.perf_counter() - t0 < 20  # about 1-2 s on one core; generous for shared machines
