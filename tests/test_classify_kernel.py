"""The compiled hull count (bayes_tms.classify_kernel) against the numpy rule it twins."""

import numpy as np
import pytest

from bayes_tms.classify_kernel import classify_hull_compiled, hull_structure_compiled
from comparisons.errors import InputError
from comparisons.theory import classify, enumerate_phases
from comparisons.theory.classify import hull_structure


def _draws(c: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Posterior-like draws: k-gons of every enumerated phase, jittered, plus prior draws and
    degenerate ones (coincident, collinear, zero and short columns)."""
    rng = np.random.default_rng(seed)
    phases = enumerate_phases(c)
    Ws, bs = [], []
    for p in phases:
        for scale in (0.0, 1e-12, 1e-3, 0.05, 0.3):
            Ws.append(p.W[None] + scale * rng.normal(size=(m, 2, c)))
            bs.append(p.b[None] + scale * rng.normal(size=(m, c)))
    Ws.append(rng.normal(size=(m, 2, c)))
    bs.append(rng.normal(size=(m, c)))
    W = rng.normal(size=(m, 2, c))
    W[:, :, 1] = W[:, :, 0]                      # coincident columns
    W[:, :, 2] = 0.5 * (W[:, :, 0] + W[:, :, 3])  # a point on an edge
    W[:, :, 4] = 0.0                             # a zero column
    W[: m // 2, :, 5] = 0.5 * W[: m // 2, :, 5] / np.linalg.norm(W[: m // 2, :, 5], axis=1, keepdims=True)
    Ws.append(W)                                 # ... and columns exactly at the presence threshold
    bs.append(rng.normal(size=(m, c)))
    line = rng.normal(size=(m, 1, 1)) * np.array([1.0, 2.0])[None, :, None] * rng.normal(size=(m, 1, c))
    Ws.append(line)                              # collinear columns
    bs.append(-np.abs(rng.normal(size=(m, c))))
    return np.concatenate(Ws), np.concatenate(bs)


@pytest.mark.parametrize("c", [6, 7])
def test_the_compiled_count_is_the_numpy_count(c):
    W, b = _draws(c, 40, seed=c)
    for got, want in zip(hull_structure_compiled(W, b), hull_structure(W, b)):
        np.testing.assert_array_equal(got, want)


def test_labels_and_distances_match_classify_on_batched_draws():
    W, b = _draws(6, 30, seed=1)
    W, b = W.reshape(-1, 5, 2, 6)[:40], b.reshape(-1, 5, 6)[:40]  # a (chain, draw) batch
    phases = enumerate_phases(6)
    labels, dist = classify_hull_compiled(W, b, phases)
    want_labels, want_dist = classify(W, b, phases, rule="hull")
    assert labels.shape == W.shape[:2]
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_array_equal(dist, want_dist)
    assert len(set(labels.ravel())) > 3


def test_bad_draws_are_refused_like_classify():
    with pytest.raises(InputError, match="W"):
        classify_hull_compiled(np.full((2, 6), np.nan), np.zeros(6), enumerate_phases(6))
    with pytest.raises(InputError, match="expected W"):
        hull_structure_compiled(np.zeros((3, 6)), np.zeros(6))
