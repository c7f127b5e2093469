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
