"""Several estimators of the same phase occupancy, side by side, and where they agree.

Each estimator gives rows ``(n, phase, fraction, lower, upper)`` (an interval per cell). Two
estimators *agree* on a cell ``(n, phase)`` when their intervals overlap; cells where both
fractions are below ``min_fraction`` are not judged (both say "absent"). With three or more
estimators every pair is judged, and a cell where one estimator disagrees with all the others
while they agree among themselves is put down to that one (:func:`estimators_verdict`).
"""

from __future__ import annotations

__all__ = ["OCCUPANCY_COMPARE_COLUMNS", "long_occupancy", "agreement", "estimators_verdict", "mixing_verdict"]

import math
from typing import Mapping, Sequence

from ..errors import InputError

#: columns of ``occupancy_compare.csv``
OCCUPANCY_COMPARE_COLUMNS = ["n", "phase", "estimator", "fraction", "lower", "upper"]


def _f(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def long_occupancy(estimates: Mapping[str, Sequence[Mapping]]) -> list[dict]:
    """``{estimator: rows}`` -> one row per ``(n, phase, estimator)`` (``occupancy_compare.csv``).

    Phase labels stay strings; ``n`` becomes an int.
    """
    out = []
    for name, rows in estimates.items():
        for r in rows:
            out.append({"n": int(round(_f(r["n"]))), "phase": str(r["phase"]), "estimator": name,
                        "fraction": _f(r["fraction"]), "lower": _f(r.get("lower")), "upper": _f(r.get("upper"))})
    return sorted(out, key=lambda r: (r["n"], r["phase"], r["estimator"]))


def agreement(rows: Sequence[Mapping], a: str, b: str, min_fraction: float = 0.05) -> dict:
    """Where estimators ``a`` and ``b`` agree: overlapping intervals on the cells both report.

    Returns
    -------
    dict
        ``{"a", "b", "cells", "agree", "disagree": [(n, phase, frac_a, frac_b), ...],
        "ns": common n}``; a phase missing from one estimator at a common ``n`` counts as
        fraction 0 with interval [0, 0].
    """
    idx: dict[tuple, dict] = {}
    ns: dict[str, set] = {a: set(), b: set()}
    for r in rows:
        if r["estimator"] in (a, b):
            idx[(r["n"], r["phase"], r["estimator"])] = r
            ns[r["estimator"]].add(r["n"])
    common = sorted(ns[a] & ns[b])
    phases = sorted({r["phase"] for r in rows if r["estimator"] in (a, b)})
    zero = {"fraction": 0.0, "lower": 0.0, "upper": 0.0}
    agree, disagree = 0, []
    for n in common:
        for p in phases:
            ra, rb = idx.get((n, p, a), zero), idx.get((n, p, b), zero)
            if max(ra["fraction"], rb["fraction"]) < min_fraction:
                continue
            lo_a, hi_a = (ra["lower"], ra["upper"]) if math.isfinite(ra["lower"]) else (ra["fraction"],) * 2
            lo_b, hi_b = (rb["lower"], rb["upper"]) if math.isfinite(rb["lower"]) else (rb["fraction"],) * 2
            if lo_a <= hi_b and lo_b <= hi_a:
                agree += 1
            else:
                disagree.append((n, p, ra["fraction"], rb["fraction"]))
    return {"a": a, "b": b, "cells": agree + len(disagree), "agree": agree, "disagree": disagree, "ns": common}


def estimators_verdict(rows: Sequence[Mapping], estimators: Sequence[str] | None = None,
                       min_fraction: float = 0.05) -> dict:
    """Pairwise agreement of several occupancy estimators, and which one stands apart where.

    Parameters
    ----------
    rows : sequence of dict
        Rows of ``occupancy_compare.csv`` (:func:`long_occupancy`).
    estimators : sequence of str, optional
        The estimators to judge, in this order (default: every one in ``rows``, sorted).
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
    names = list(estimators) if estimators is not None else sorted({str(r["estimator"]) for r in rows})
    if len(set(names)) != len(names) or len(names) < 2:
        raise InputError(f"estimators: expected at least two distinct names, got {names}")
    pairs = [agreement(rows, a, b, min_fraction) for i, a in enumerate(names) for b in names[i + 1:]]
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


def mixing_verdict(diagnostics: Sequence[Mapping], rhat_max: float = 1.05) -> tuple[str, list[int]]:
    """``("yes" | "no" | "no data", flagged n)``: did the chains mix at every ``n``?

    A row is flagged when its ``mixed`` column is false (PT) or, without one, when the loss R-hat
    exceeds ``rhat_max`` (NUTS rows of all chains, ``phase == "all"``).
    """
    flagged, seen = [], 0
    for r in diagnostics:
        if "phase" in r and str(r["phase"]) != "all":
            continue
        seen += 1
        if "mixed" in r and r["mixed"] not in ("", None):
            ok = str(r["mixed"]).lower() in ("true", "1", "1.0")
        else:
            rhat = _f(r.get("rhat_loss"))
            ok = math.isfinite(rhat) and rhat <= rhat_max
        if not ok:
            flagged.append(int(round(_f(r["n"]))))
    if not seen:
        return "no data", []
    return ("no" if flagged else "yes"), flagged
