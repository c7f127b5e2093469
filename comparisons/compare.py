"""Relating the Bayesian and the dynamical phase transitions: pure functions on the engines' tables.

Inputs are the files the engines write, read as data (``docs/study.md`` section 6 and
the ``bayes``/``sgd`` commands):

- Bayesian occupancy: rows ``(n, phase, fraction, lower, upper, chains)``;
- Bayesian transitions: ``{"from", "to", "n", "lower", "upper", "predicted_n"}``;
- SGD plateaus: rows ``(run, order, phase, start_step, end_step, loss, llc)``, and their moves
  ``(run, from, to)`` (:func:`sgd_tms.phases.phase_moves`, carried by the plateaus hand-off of
  :mod:`comparisons.contracts`).

Every verdict comes with the numbers it was computed from.
"""

from __future__ import annotations

__all__ = ["dominant_sequence", "bayes_moves", "Verdict", "monotone_verdict",
           "prediction_verdict", "transition_comparison", "phase_coordinates",
           "learning_coefficients", "llc_scale_table", "sgd_llc_medians", "switch_line"]

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import xarray as xr

from .theory.classify import UNCLASSIFIED
from .theory.free_energy import effective_llc
from .theory.kgons import Phase


def dominant_sequence(occupancy: xr.Dataset) -> list[dict]:
    """Leading classified phase at each n, merged into n ranges, with the unclassified share.

    The plurality of *all* mass may be ``"unclassified"``; the sequence follows the leading
    classified phase (the only ones with a free-energy prediction) and says, per range, whether
    that phase also led all of the mass or only the classified draws.

    Parameters
    ----------
    occupancy : xarray.Dataset
        An occupancy hand-off (:data:`comparisons.contracts.OCCUPANCY`); its first estimator is
        followed, over the cells it reports (finite ``fraction``). Ties go to the first phase.

    Returns
    -------
    list of ``{"phase", "n_from", "n_to", "fraction", "unclassified", "leads_all_mass"}`` in
    increasing n: ``fraction`` is the largest fraction the phase reached within its range,
    ``unclassified`` the largest unclassified share there, and ``leads_all_mass`` whether the
    phase's fraction was at least the unclassified share at every n of the range.
    """
    one = occupancy.isel(estimator=0) if "estimator" in occupancy.dims else occupancy
    frac = np.asarray(one["fraction"].transpose("n", "phase").values, dtype=float)
    labels = [str(p) for p in one["phase"].values]
    classified = np.array([p != UNCLASSIFIED for p in labels])
    out: list[dict] = []
    for n, row in zip(one["n"].values, frac):
        cand = np.where(classified & np.isfinite(row), row, -np.inf)
        if not np.isfinite(cand).any():
            continue
        j = int(np.argmax(cand))  # the first of equal fractions
        phase, f, n = labels[j], float(row[j]), float(n)
        u = float(np.nansum(np.where(classified, 0.0, row)))
        if out and out[-1]["phase"] == phase:
            last = out[-1]
            last.update(n_to=n, fraction=max(last["fraction"], f), unclassified=max(last["unclassified"], u),
                        leads_all_mass=last["leads_all_mass"] and f >= u)
        else:
            out.append({"phase": phase, "n_from": n, "n_to": n, "fraction": f, "unclassified": u,
                        "leads_all_mass": f >= u})
    return out


def bayes_moves(occupancy: xr.Dataset) -> list[tuple[str, str]]:
    """Successive changes of the dominant phase as n grows: ``[(from, to), ...]`` (:func:`dominant_sequence`)."""
    seq = dominant_sequence(occupancy)
    return [(a["phase"], b["phase"]) for a, b in zip(seq[:-1], seq[1:])]


@dataclass(frozen=True)
class Verdict:
    """A yes/no answer with the numbers behind it."""

    question: str
    answer: str
    detail: str

    def line(self) -> str:
        return f"{self.question} **{self.answer}**: {self.detail}"


def phase_coordinates(phases: Sequence[Phase], llc: Mapping[str, float] | None = None) -> dict[str, tuple[float, float]]:
    """``label -> (population loss, learning coefficient)`` (theory, or ``llc`` overrides)."""
    return {p.label: (p.loss, effective_llc(p, llc)) for p in phases}


def switch_line(t: Mapping) -> str:
    """One printed line for a transition of ``transitions.json``: where, its interval, the predictions."""
    pred = ", ".join(f"{t[k]:.0f} ({name})" for k, name in (("predicted_n", "asymptotic"),
                                                           ("predicted_n_laplace", "with O(1) terms"))
                     if t.get(k) is not None)
    level = f"{t['level']} " if t.get("level", "phase") != "phase" else ""
    return (f"{level}switch {t['from']} -> {t['to']} at n = {t['n']:.0f} [{t['lower']:.0f}, {t['upper']:.0f}]"
            + (f"; free energy predicts {pred}" if pred else ""))


def learning_coefficients(phases: Sequence[Phase]) -> dict[str, tuple[float, float, str]]:
    """``label -> (lambda, se, kind)``: the phase's learning coefficient on one scale.

    ``kind`` is ``"exact"`` (rank/2 where the loss is C^2; se 0) or ``"measured"`` (on the
    non-C^2 walls: ``Phase.llc_measured`` from the population loss, with its standard error).
    Wall phases that were never measured are left out: their ``llc_bound`` is a bound, not a
    coefficient.
    """
    out = {}
    for p in phases:
        if p.llc is not None:
            out[p.label] = (float(p.llc), 0.0, "exact")
        elif getattr(p, "llc_measured", None) is not None:
            out[p.label] = (float(p.llc_measured), float(p.llc_se or 0.0), "measured")
    return out


def llc_scale_table(phases: Sequence[Phase], plateaus: Sequence[Mapping]) -> list[dict]:
    """Per phase seen by SGD: its learning coefficient beside the plateau estimates at the protocol's n.

    Returns rows ``{"phase", "loss", "llc", "llc_se", "kind", "plateaus", "estimate" (median SGLD
    estimate over the plateaus), "estimate_iqr", "bias" (estimate - llc)}``; the estimate is
    what SGLD at finite ``n`` reports, the coefficient what it estimates.
    """
    coef = learning_coefficients(phases)
    loss = {p.label: p.loss for p in phases}
    per: dict[str, list[float]] = {}
    for r in plateaus:
        v = r.get("llc", np.nan)
        if r["phase"] in loss and v is not None and np.isfinite(v):
            per.setdefault(str(r["phase"]), []).append(float(v))
    rows = []
    for label in sorted(per, key=lambda k: -loss[k]):
        est = np.asarray(per[label])
        lam, se, kind = coef.get(label, (np.nan, np.nan, "bound only"))
        q1, q3 = np.quantile(est, [0.25, 0.75])
        rows.append({"phase": label, "loss": loss[label], "llc": lam, "llc_se": se, "kind": kind,
                     "plateaus": int(est.size), "estimate": float(np.median(est)),
                     "estimate_iqr": f"{q1:.2f}-{q3:.2f}", "bias": float(np.median(est) - lam)})
    return rows


def sgd_llc_medians(plateaus: Sequence[Mapping]) -> dict[str, float]:
    """Phase -> median SGLD estimate over its plateaus (NaN estimates left out)."""
    per: dict[str, list[float]] = {}
    for r in plateaus:
        if np.isfinite(r.get("llc", np.nan)):
            per.setdefault(r["phase"], []).append(r["llc"])
    return {k: float(np.median(v)) for k, v in per.items()}


def monotone_verdict(process: str, moves: Iterable[tuple[str, str]],
                     coords: Mapping[str, tuple[float, float]]) -> Verdict:
    """Do all ``moves`` go to lower loss and higher-or-equal LLC?

    ``coords`` maps a label to ``(loss, llc)``; moves with a label missing from it are counted
    as undecidable and reported.
    """
    moves = list(moves)
    good, bad, unknown = 0, [], 0
    for a, b in moves:
        if a not in coords or b not in coords:
            unknown += 1
            continue
        (la, ka), (lb, kb) = coords[a], coords[b]
        if lb < la and kb >= ka:
            good += 1
        else:
            bad.append(f"{a}->{b}")
    decided = good + len(bad)
    if decided == 0:
        return Verdict(f"{process}: lower loss and higher LLC at every transition?", "no data",
                       f"{len(moves)} transitions, none between known phases")
    answer = "yes" if not bad else ("mostly" if good / decided >= 0.8 else "no")
    common = Counter(bad).most_common(3)
    detail = f"{good} of {decided} transitions ({100 * good / decided:.0f}%)"
    if common:
        detail += "; exceptions: " + ", ".join(f"{m} x{k}" for m, k in common)
    if unknown:
        detail += f"; {unknown} involve phases without theory coordinates"
    return Verdict(f"{process}: lower loss and higher LLC at every transition?", answer, detail)


def prediction_verdict(transitions: Sequence[Mapping]) -> list[Verdict]:
    """For each measured Bayesian switch: does each free-energy prediction fall in its interval?

    Two predictions are judged where present: ``predicted_n`` (the asymptotic formula
    ``n L + lambda log n + |w*|^2/2``) and ``predicted_n_laplace`` (with the O(1) terms).
    """
    out = []
    kinds = (("predicted_n", "asymptotic free energy"), ("predicted_n_laplace", "free energy with O(1) terms"))
    for t in transitions:
        lo, hi = t.get("lower"), t.get("upper")
        level = " (families)" if t.get("level") == "family" else ""
        for key, name in kinds:
            if key not in t:
                continue
            pred = t[key]
            q = f"Bayesian switch {t['from']} -> {t['to']}{level} where the {name} predicts?"
            if pred is None or lo is None or hi is None or not np.isfinite([pred, lo, hi]).all():
                out.append(Verdict(q, "undecided", f"measured n = {t.get('n')}, interval [{lo}, {hi}], "
                                   f"predicted {pred}"))
                continue
            ok = lo <= pred <= hi
            ratio = pred / t["n"] if t.get("n") else float("nan")
            out.append(Verdict(q, "yes" if ok else "no",
                               f"measured n = {t['n']:.0f} (interval {lo:.0f} to {hi:.0f}), predicted "
                               f"{pred:.0f} (predicted/measured = {ratio:.2f})"))
    return out


def transition_comparison(bayes_transitions: Sequence[Mapping], sgd: Sequence[tuple[int, str, str]],
                          n_runs: int) -> list[dict]:
    """Side-by-side table: every move seen in either process.

    Returns rows ``{"from", "to", "bayes_n", "bayes_interval", "predicted_n", "sgd_count",
    "sgd_runs_fraction"}``; ``bayes_n`` is None for moves the posterior does not make.
    """
    counts = Counter((a, b) for _, a, b in sgd)
    runs_with = {k: len({r for r, a, b in sgd if (a, b) == k}) for k in counts}
    rows = {}
    for t in bayes_transitions:
        if t.get("level", "phase") != "phase":
            continue
        key = (t["from"], t["to"])
        rows[key] = {"from": key[0], "to": key[1], "bayes_n": t.get("n"),
                     "bayes_interval": (t.get("lower"), t.get("upper")), "predicted_n": t.get("predicted_n"),
                     "predicted_n_laplace": t.get("predicted_n_laplace"),
                     "sgd_count": counts.get(key, 0),
                     "sgd_runs_fraction": runs_with.get(key, 0) / n_runs if n_runs else float("nan")}
    for key, k in counts.items():
        if key not in rows:
            rows[key] = {"from": key[0], "to": key[1], "bayes_n": None, "bayes_interval": (None, None),
                         "predicted_n": None, "predicted_n_laplace": None, "sgd_count": k,
                         "sgd_runs_fraction": runs_with[key] / n_runs if n_runs else float("nan")}
    return sorted(rows.values(), key=lambda r: (r["bayes_n"] is None, r["bayes_n"] or 0, -r["sgd_count"]))
