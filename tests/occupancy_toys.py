"""Toys with known phase masses for the occupancy tests: label draws of correlated copies.

``label_posteriors(masses, copies, draws, rho, rng)`` returns ``{n: posterior-like}`` whose
``posterior["phase"]`` ``(chain, draw)`` is a Markov chain per copy with stationary law
``masses[n]`` (stay with probability ``rho``, else a fresh draw from the law): the fractions'
true values are known exactly, and the draws are autocorrelated like a sampler's.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import xarray as xr


def markov_labels(p: np.ndarray, names, copies: int, draws: int, rho: float, rng: np.random.Generator) -> np.ndarray:
    """Labels ``(copies, draws)`` of stationary Markov chains with law ``p`` over ``names``."""
    p = np.asarray(p, dtype=float)
    fresh = rng.choice(len(p), size=(copies, draws), p=p)
    stay = rng.random((copies, draws)) < rho
    idx = fresh.copy()
    for k in range(1, draws):
        idx[:, k] = np.where(stay[:, k], idx[:, k - 1], fresh[:, k])
    return np.asarray(names)[idx]


def posterior_of(labels: np.ndarray) -> SimpleNamespace:
    """An object with ``posterior["phase"] (chain, draw)``, as :func:`bayes_tms.occupancy_table` reads."""
    return SimpleNamespace(posterior=xr.Dataset({"phase": (("chain", "draw"), labels)}))


def label_posteriors(masses: dict, names, *, copies: int, draws: int, rho: float, rng) -> dict:
    """``{n: posterior_of(markov_labels(masses[n], ...))}``."""
    return {n: posterior_of(markov_labels(masses[n], names, copies, draws, rho, rng)) for n in sorted(masses)}


def two_phase_masses(ns, n_star: float, k: float = 4.0) -> dict:
    """``{n: (P_A, P_B)}`` with ``P_B / P_A = (n / n_star)^k``: ``A -> B`` exactly at ``n_star``."""
    out = {}
    for n in ns:
        r = (n / n_star) ** k
        out[int(n)] = np.array([1 / (1 + r), r / (1 + r)])
    return out


#: the ladder and the P(6) of the stored repeated-switch fixture: 5 leads, then 6, 5 again, 6 again
REPEATED_NS = (150, 250, 350, 450, 550, 650, 750, 900, 1200)
REPEATED_P6 = (0.15, 0.3, 0.62, 0.7, 0.38, 0.66, 0.8, 0.88, 0.95)


def repeated_switch_labels(seed: int = 20261206) -> dict:
    """``{n: labels (8, 300)}`` of a posterior whose leading phase goes 5 -> 6 -> 5 -> 6.

    The stored fixture ``tests/data/repeated_switch_labels.npz`` is this function's output, saved
    by :func:`save_repeated_switch` and read by :func:`load_repeated_switch`; about 4% of the
    draws are unclassified.
    """
    rng = np.random.default_rng(seed)
    names = ["5", "6", "unclassified"]
    return {n: markov_labels(np.array([0.96 * (1 - p6), 0.96 * p6, 0.04]), names, 8, 300, 0.8, rng)
            for n, p6 in zip(REPEATED_NS, REPEATED_P6)}


LABELS = ("5", "6", "unclassified")


def save_repeated_switch(path) -> None:
    """Write :func:`repeated_switch_labels` as label codes (uint8) into ``path`` (npz, compressed)."""
    codes = {f"n{n}": np.searchsorted(LABELS, lab).astype(np.uint8) for n, lab in repeated_switch_labels().items()}
    np.savez_compressed(path, **codes)


def load_repeated_switch(path) -> dict:
    """``{n: posterior_of(labels)}`` of the stored fixture."""
    with np.load(path) as data:
        return {int(k[1:]): posterior_of(np.asarray(LABELS)[data[k]]) for k in data.files}
