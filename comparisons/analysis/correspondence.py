"""The dynamical <-> Bayesian correspondence at one number of features c (issue 23, item 4).

For each SGD transition ``alpha -> beta`` that at least ``min_fraction`` of the runs make, one row
of an ``xarray.Dataset`` over the dimension ``move``:

- how often it happens (runs making it, their fraction, the count of moves);
- ``Delta L = L(beta) - L(alpha)`` and ``Delta lambda`` with the phases' learning coefficients
  (exact rank/2, or measured on the non-C^2 walls: :func:`comparisons.compare.learning_coefficients`)
  and the sign of each;
- the ``n`` above which the asymptotic free energy ``n beta L + lambda log(n beta) + |w*|^2/2``
  prefers ``beta`` over ``alpha``, at both likelihood conventions (beta = 1 and 1/2), or where it
  prefers it at every ``n`` or at none;
- whether the Bayesian sequence (its leading phase along ``n``, e.g. replica exchange on the
  population loss) makes the step ``alpha -> beta`` (adjacent) or at least visits ``alpha`` and
  later ``beta`` (in order);
- the SGLD estimates at the protocol's ``n`` (median over the SGD plateaus of each phase) beside
  the coefficients.

The attributes close with one computed verdict on the paper's claim (a transition goes from high
loss / low complexity to low loss / high complexity), once with the coefficients and once with
the finite-n SGLD estimates (:func:`comparisons.compare.monotone_verdict`, each transition counted
as often as the runs make it).

Pure: the inputs are the engines' hand-offs (``plateaus.nc``, ``occupancy.nc``) as Datasets.
"""

from __future__ import annotations

__all__ = ["correspondence", "preference_n", "correspondence_rows", "CONVENTION_BETAS"]

import math
from collections import Counter
from typing import Mapping, Sequence

import numpy as np
import xarray as xr

from ..compare import bayes_moves, learning_coefficients, monotone_verdict, sgd_llc_medians, sgd_moves
from ..contracts import validate_plateaus
from ..errors import InputError, check_positive_int
from ..theory import crossings, enumerate_phases
from ..theory.kgons import Phase

#: the two likelihood conventions: the tempered posterior at beta = 1 (the theory's) and the
#: Gaussian sigma = 1 model of the paper's code (beta = 1/2); see comparisons.jobs.bayes_pt.CONVENTIONS
CONVENTION_BETAS = {"tempered": 1.0, "gaussian-sigma1": 0.5}


def preference_n(a: Phase, b: Phase, llc: Mapping[str, float], *, beta: float = 1.0, prior_sigma: float = 1.0,
                 n_min: float = 1.0, n_max: float = 1e6) -> tuple[float, str]:
    """Where the free energy prefers ``b`` over ``a``: ``(n, how)``.

    ``how`` is ``"above n"`` (``F_n(b) < F_n(a)`` just above the crossing ``n``: the last one in
    ``[n_min, n_max]`` whose ``to`` is ``b``), ``"at every n"`` (``b`` wins over the whole range;
    ``n`` is NaN), ``"never"`` (``a`` wins throughout; NaN) or ``"below n"`` (``b`` wins only
    below the crossing ``n``, as when ``b`` has the higher loss). ``llc``: label ->
    coefficient of both phases.
    """
    from ..theory import free_energy

    pair = [a, b]
    cross = crossings(pair, n_max=n_max, n_min=n_min, llc=llc, prior_sigma=prior_sigma, beta=beta)
    top = free_energy(pair, n_max, llc, prior_sigma, beta)
    b_wins_at_top = bool(top[1] < top[0])
    if not cross:
        return math.nan, ("at every n" if b_wins_at_top else "never")
    last = cross[-1]
    if b_wins_at_top:
        return float(last["n"]), "above n"
    return float(last["n"]), "below n"


def correspondence(plateaus: xr.Dataset, occupancy: xr.Dataset | None, features: int, *,
                   min_fraction: float = 0.05, prior_sigma: float = 1.0, estimator: str | None = None,
                   phases: Sequence[Phase] | None = None) -> xr.Dataset:
    """The correspondence table of one ``c`` (see the module docstring).

    Parameters
    ----------
    plateaus : xarray.Dataset
        The SGD plateaus hand-off (:func:`sgd_tms.phases.labelled_plateaus`): moves and
        plateaus with their SGLD estimates at the protocol's ``n``.
    occupancy : xarray.Dataset or None
        The Bayesian occupancy hand-off (:data:`comparisons.contracts.OCCUPANCY`), e.g.
        ``bayes --sampler pt --population``'s ``occupancy.nc``; None: the Bayesian columns are
        left undecided.
    features : int
        ``c``; the phases are :func:`comparisons.theory.enumerate_phases` ``(c)`` unless ``phases``
        is given (a test's own set).
    min_fraction : float
        Moves made by fewer runs than this share are left out (issue 23: 5%).
    prior_sigma : float
        Prior scale of the free energy.
    estimator : str, optional
        Which estimator of ``occupancy`` (default: its first).

    Returns
    -------
    xarray.Dataset
        Over ``move`` (most frequent first): ``from, to`` (str), ``runs, count`` (int),
        ``fraction`` (of runs), ``dL, dlam`` (float; NaN without a coefficient), ``sign_dL,
        sign_dlam`` (-1, 0, 1; 0 also where undefined), ``n_prefer`` and ``prefer`` over
        ``convention`` (tempered, gaussian-sigma1), ``bayes_step, bayes_order`` (bool),
        ``llc_from, llc_to`` (coefficients) and ``est_from, est_to`` (SGLD medians). Attrs:
        ``features``, ``runs``, ``min_fraction``, ``bayes_sequence``, ``verdict_true``,
        ``verdict_estimate`` (``answer: detail``) and ``answer_true``, ``answer_estimate``.
    """
    check_positive_int("features", features, minimum=2)
    if not (isinstance(min_fraction, (int, float)) and 0 <= min_fraction <= 1):
        raise InputError(f"min_fraction: expected a share in [0, 1], got {min_fraction!r}")
    plateaus = validate_plateaus(plateaus)
    runs = int(plateaus.attrs["runs"])
    moves = sgd_moves(plateaus)
    phases = list(enumerate_phases(features) if phases is None else phases)
    by_label = {p.label: p for p in phases}
    coef = learning_coefficients(phases)
    lam = {k: v[0] for k, v in coef.items()}
    est = sgd_llc_medians(plateaus)
    seq: list[tuple[str, str]] = []
    if occupancy is not None:
        seq = bayes_moves(occupancy if estimator is None else occupancy.sel(estimator=[estimator]))
    visited = [seq[0][0]] + [b for _, b in seq] if seq else []

    count = Counter((a, b) for _, a, b in moves)
    run_sets: dict[tuple[str, str], set] = {}
    for r, a, b in moves:
        run_sets.setdefault((a, b), set()).add(r)
    kept = [k for k in count if runs and len(run_sets[k]) / runs >= min_fraction]
    kept.sort(key=lambda k: (-len(run_sets[k]), -count[k], k))

    convs = list(CONVENTION_BETAS)
    rows: dict[str, list] = {k: [] for k in ("from", "to", "runs", "count", "fraction", "dL", "dlam", "sign_dL",
                                             "sign_dlam", "bayes_step", "bayes_order", "llc_from", "llc_to",
                                             "est_from", "est_to", "n_prefer", "prefer")}
    for a, b in kept:
        pa, pb = by_label.get(a), by_label.get(b)
        la, lb = lam.get(a, math.nan), lam.get(b, math.nan)
        dL = pb.loss - pa.loss if pa is not None and pb is not None else math.nan
        dlam = lb - la
        n_pref, how = [], []
        for conv in convs:
            if pa is not None and pb is not None and np.isfinite(dlam):
                n, h = preference_n(pa, pb, {a: la, b: lb}, beta=CONVENTION_BETAS[conv], prior_sigma=prior_sigma)
            else:
                n, h = math.nan, "no coefficient"
            n_pref.append(n)
            how.append(h)
        step = (a, b) in seq
        order = a in visited and b in visited and visited.index(a) < len(visited) - 1 - visited[::-1].index(b)
        for k, v in (("from", a), ("to", b), ("runs", len(run_sets[(a, b)])), ("count", count[(a, b)]),
                     ("fraction", len(run_sets[(a, b)]) / runs), ("dL", dL), ("dlam", dlam),
                     ("sign_dL", int(np.sign(dL)) if np.isfinite(dL) else 0),
                     ("sign_dlam", int(np.sign(dlam)) if np.isfinite(dlam) else 0),
                     ("bayes_step", step), ("bayes_order", bool(order)), ("llc_from", la), ("llc_to", lb),
                     ("est_from", est.get(a, math.nan)), ("est_to", est.get(b, math.nan)),
                     ("n_prefer", n_pref), ("prefer", how)):
            rows[k].append(v)

    repeated = [m for m in kept for _ in range(count[m])]
    true_coords = {p.label: (p.loss, lam[p.label]) for p in phases if p.label in lam}
    est_coords = {p.label: (p.loss, est[p.label]) for p in phases if p.label in est}
    v_true = monotone_verdict("SGD moves, the phases' learning coefficients", repeated, true_coords)
    v_est = monotone_verdict("SGD moves, SGLD estimates at the protocol's n", repeated, est_coords)
    move_dim, both = ("move",), ("move", "convention")
    n = len(kept)
    ds = xr.Dataset(
        {"from": (move_dim, np.array(rows["from"], dtype=str)), "to": (move_dim, np.array(rows["to"], dtype=str)),
         **{k: (move_dim, np.array(rows[k], dtype=np.int64)) for k in ("runs", "count", "sign_dL", "sign_dlam")},
         **{k: (move_dim, np.array(rows[k], dtype=float)) for k in ("fraction", "dL", "dlam", "llc_from", "llc_to",
                                                                     "est_from", "est_to")},
         **{k: (move_dim, np.array(rows[k], dtype=bool)) for k in ("bayes_step", "bayes_order")},
         "n_prefer": (both, np.array(rows["n_prefer"], dtype=float).reshape(n, len(convs))),
         "prefer": (both, np.array(rows["prefer"], dtype=str).reshape(n, len(convs)))},
        coords={"move": np.arange(n), "convention": np.array(convs, dtype=str)},
        attrs={"features": int(features), "runs": runs, "min_fraction": float(min_fraction),
               "bayes_sequence": " -> ".join(visited) if visited else "",
               "answer_true": v_true.answer, "verdict_true": f"{v_true.answer}: {v_true.detail}",
               "answer_estimate": v_est.answer, "verdict_estimate": f"{v_est.answer}: {v_est.detail}"})
    ds["n_prefer"].attrs["units"] = "samples"
    return ds


def correspondence_rows(ds: xr.Dataset) -> list[list]:
    """The table of a :func:`correspondence` Dataset as printable rows (header first)."""
    def num(v: float, fmt: str) -> str:
        return "-" if not np.isfinite(v) else format(v, fmt)

    def pref(i: int, j: int) -> str:
        how, n = str(ds["prefer"].values[i, j]), float(ds["n_prefer"].values[i, j])
        return f"{how.replace(' n', '')} {n:.0f}" if how in ("above n", "below n") else how

    sign = {-1: "-", 0: "0", 1: "+"}
    convs = [str(c) for c in ds["convention"].values]
    head = ["move", "runs (share)", "dL", "dlambda", *(f"prefers, {c} (beta {CONVENTION_BETAS.get(c, '?')})"
                                                        for c in convs),
            "Bayesian step", "lambda from -> to", "SGLD from -> to"]
    rows = [head]
    for i in range(ds.sizes["move"]):
        rows.append([f"{ds['from'].values[i]} -> {ds['to'].values[i]}",
                     f"{int(ds['runs'].values[i])} ({100 * float(ds['fraction'].values[i]):.0f}%)",
                     f"{num(float(ds['dL'].values[i]), '+.5f')} ({sign[int(ds['sign_dL'].values[i])]})",
                     f"{num(float(ds['dlam'].values[i]), '+.2f')} ({sign[int(ds['sign_dlam'].values[i])]})",
                     *(pref(i, j) for j in range(len(convs))),
                     "yes" if ds["bayes_step"].values[i] else ("in order" if ds["bayes_order"].values[i] else "no"),
                     f"{num(float(ds['llc_from'].values[i]), '.2f')} -> {num(float(ds['llc_to'].values[i]), '.2f')}",
                     f"{num(float(ds['est_from'].values[i]), '.2f')} -> {num(float(ds['est_to'].values[i]), '.2f')}"])
    return rows
