"""Several estimators of the same phase occupancy, side by side, and where they agree.

The estimators sit side by side on the ``estimator`` dim of one occupancy hand-off
(:data:`comparisons.contracts.OCCUPANCY`, ``occupancy_compare.nc``; a cell an estimator does not
report is NaN), each cell ``(n, phase)`` with a fraction and an interval. Two
estimators *agree* on a cell ``(n, phase)`` when their intervals overlap; cells where both
fractions are below ``min_fraction`` are not judged (both say "absent"). With three or more
estimators every pair is judged, and a cell where one estimator disagrees with all the others
while they agree among themselves is put down to that one (:func:`estimators_verdict`).
"""

from __future__ import annotations

__all__ = ["OCCUPANCY_COMPARE_COLUMNS", "agreement", "estimators_verdict", "mixing_verdict"]

import math
from typing import Sequence

import numpy as np
import xarray as xr

from ..errors import InputError

#: columns of ``occupancy_compare.csv``
OCCUPANCY_COMPARE_COLUMNS = ["n", "phase", "estimator", "fraction", "lower", "upper"]


def agreement(occupancy: xr.Dataset, a: str, b: str, min_fraction: float = 0.05) -> dict:
    """Where estimators ``a`` and ``b`` agree: overlapping intervals on the cells both report.

    Parameters
    ----------
    occupancy : xarray.Dataset
        Estimators side by side (``occupancy_compare.nc``).
    a, b : str
        Two of its estimators.
    min_fraction : float
        Cells where both fractions are below it are not judged.

    Returns
    -------
    dict
        ``{"a", "b", "cells", "agree", "disagree": [(n, phase, frac_a, frac_b), ...],
        "ns": common n}``: the common ``n`` are those where both report a cell; there a phase
        one of them reports nowhere, or not at that ``n``, counts as fraction 0 with interval
        [0, 0]; a cell without an interval counts as the point.
    """
    sel = {e: occupancy.sel(estimator=e).transpose("n", "phase") for e in (a, b)}
    seen = {e: np.isfinite(sel[e]["fraction"].values) for e in (a, b)}
    ns = [int(n) for n in occupancy["n"].values]
    common = [i for i in range(len(ns)) if seen[a][i].any() and seen[b][i].any()]
    labels = [str(p) for p in occupancy["phase"].values]
    phases = sorted((j for j in range(len(labels)) if seen[a][:, j].any() or seen[b][:, j].any()),
                    key=lambda j: labels[j])

    def cell(e, i, j) -> tuple[float, float, float]:
        if not seen[e][i, j]:
            return 0.0, 0.0, 0.0
        f, lo, hi = (float(sel[e][k].values[i, j]) for k in ("fraction", "lower", "upper"))
        return (f, lo, hi) if math.isfinite(lo) else (f, f, f)

    agree, disagree = 0, []
    for i in common:
        for j in phases:
            (fa, lo_a, hi_a), (fb, lo_b, hi_b) = cell(a, i, j), cell(b, i, j)
            if max(fa, fb) < min_fraction:
                continue
            if lo_a <= hi_b and lo_b <= hi_a:
                agree += 1
            else:
                disagree.append((ns[i], labels[j], fa, fb))
    return {"a": a, "b": b, "cells": agree + len(disagree), "agree": agree, "disagree": disagree,
            "ns": [ns[i] for i in common]}


def estimators_verdict(occupancy: xr.Dataset, estimators: Sequence[str] | None = None,
                       min_fraction: float = 0.05) -> dict:
    """Pairwise agreement of several occupancy estimators, and which one stands apart where.

    Parameters
    ----------
    occupancy : xarray.Dataset
        Estimators side by side (``occupancy_compare.nc``).
    estimators : sequence of str, optional
        The estimators to judge, in this order (default: every one of ``occupancy``, sorted).
    min_fraction : float
        Cells where every fraction of a pair is below it are not judged (:func:`agreement`).

    Returns
    -------
    dict
        ``"estimators"``; ``"pairs"``: :func:`agreement` of every pair; ``"verdict"``: ``"agree"``
        when no pair disagrees on any cell, else ``"disagree"`` (``"no data"`` without a judged
        cell); ``"odd_one_out"``: ``{estimator: [(n, phase), ...]}``, the cells where that
        estimator disagrees with every other one while the others agree with each other (only
        with three or more estimators); ``"unattributed"``: the other disagreeing cells,
        ``[(n, phase), ...]``.
    """
    have = [str(e) for e in occupancy["estimator"].values]
    names = list(estimators) if estimators is not None else sorted(have)
    if len(set(names)) != len(names) or len(names) < 2:
        raise InputError(f"estimators: expected at least two distinct names, got {names}")
    if any(nm not in have for nm in names):
        raise InputError(f"estimators: expected names among {have}, got {names}")
    pairs = [agreement(occupancy, a, b, min_fraction) for i, a in enumerate(names) for b in names[i + 1:]]
    bad: dict[tuple, set] = {}  # (n, phase) -> pairs that disagree there
    judged = 0
    for p in pairs:
        judged += p["cells"]
        for n, phase, _, _ in p["disagree"]:
            bad.setdefault((n, phase), set()).add((p["a"], p["b"]))
    odd: dict[str, list] = {nm: [] for nm in names}
    unattributed = []
    for cell, dis in sorted(bad.items()):
        who = [nm for nm in names if len(names) >= 3 and all(
            (nm in pair) for pair in dis) and len(dis) == len(names) - 1]
        if who:
            odd[who[0]].append(cell)
        else:
            unattributed.append(cell)
    verdict = "no data" if not judged else ("disagree" if bad else "agree")
    return {"estimators": names, "pairs": pairs, "verdict": verdict,
            "odd_one_out": {k: v for k, v in odd.items() if v}, "unattributed": unattributed}


def mixing_verdict(diagnostics: xr.Dataset | None, rhat_max: float = 1.05) -> tuple[str, list[int]]:
    """``("yes" | "no" | "no data", flagged n)``: did the chains mix at every ``n``?

    ``diagnostics`` is a diagnostics hand-off (:data:`comparisons.contracts.DIAGNOSTICS`) or None.
    A row is flagged when its ``mixed`` flag is false (PT) or, without one, when the loss R-hat
    exceeds ``rhat_max`` (NUTS rows of all chains, ``phase == "all"``).
    """
    if diagnostics is None:
        return "no data", []
    if "phase" in diagnostics:
        diagnostics = diagnostics.isel(row=diagnostics["phase"].values.astype(str) == "all")
    if not diagnostics.sizes.get("row", 0):
        return "no data", []
    if "mixed" in diagnostics:
        ok = diagnostics["mixed"].values.astype(bool)
    else:
        rhat = diagnostics["rhat_loss"].values.astype(float)
        ok = np.isfinite(rhat) & (rhat <= rhat_max)
    flagged = [int(n) for n in diagnostics["n"].values[~ok]]
    return ("no" if flagged else "yes"), flagged
