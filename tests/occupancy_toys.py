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


def occupancy_of(estimates: dict, *, level: str = "phase", log_mass: dict | None = None,
                 attrs: dict | None = None) -> xr.Dataset:
    """A test occupancy hand-off from small tables ``{estimator: [{n, phase, fraction, lower, upper[, chains]}]}``.

    Built the way the engines build theirs (:func:`bayes_tms.occupancy.labelled_occupancy`, one
    estimator at a time, then :func:`comparisons.contracts.combine_occupancy`); ``log_mass``:
    ``{estimator: [{n, phase, log_mass, lower, upper}]}`` on cells of the table.
    """
    from bayes_tms.occupancy import cell_arrays, labelled_occupancy
    from comparisons.contracts import combine_occupancy, phase_order

    parts = []
    for name, rows in estimates.items():
        ns = sorted({int(r["n"]) for r in rows})
        names = sorted({str(r["phase"]) for r in rows}, key=phase_order)
        cells = {(int(r["n"]), str(r["phase"])): (r["fraction"], r.get("lower", np.nan), r.get("upper", np.nan),
                                                   r.get("chains", -1)) for r in rows}
        keys = ["fraction", "lower", "upper", "chains"]
        for m in (log_mass or {}).get(name, ()):
            cells[int(m["n"]), str(m["phase"])] += (m["log_mass"], m["lower"], m["upper"])
        if (log_mass or {}).get(name):
            keys += ["log_mass", "log_mass_lower", "log_mass_upper"]
            cells = {k: v if len(v) == 7 else v + (np.nan,) * 3 for k, v in cells.items()}
        parts.append(labelled_occupancy(ns, names, cell_arrays(ns, names, cells, keys), estimator=name, level=level))
    return combine_occupancy(parts, attrs=attrs)


def reported_cells(occ: xr.Dataset) -> list[dict]:
    """The cells an occupancy hand-off's first estimator reports, as records (pandas, for assertions)."""
    frame = occ.isel(estimator=0).to_dataframe().reset_index()
    return frame[frame["fraction"].notna()].to_dict(orient="records")


def transitions_of(switches) -> xr.Dataset:
    """A test transitions hand-off from small tables ``[{from, to, n, lower, upper[, ...]}]``.

    Each field of :data:`comparisons.contracts.TRANSITION_FIELDS` over ``transition``, as
    :func:`bayes_tms.occupancy.transitions` writes it; a field a switch leaves out (or None) is
    NaN, -1 for integers, ``"phase"`` for ``level`` and ``""`` for other labels.
    """
    from comparisons.contracts import TRANSITION_FIELDS, validate_transitions

    switches = list(switches)
    missing = {str: "", int: -1, float: np.nan}
    kinds = {str: str, int: np.int64, float: float}
    data = {}
    for k, kind in TRANSITION_FIELDS.items():
        fill = "phase" if k == "level" else missing[kind]
        data[k] = ("transition", np.array([fill if s.get(k) is None else s[k] for s in switches], dtype=kinds[kind]))
    return validate_transitions(xr.Dataset(data, coords={"transition": np.arange(len(switches))}))
