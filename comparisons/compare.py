"""Relating the Bayesian and the dynamical phase transitions: pure functions on the engines' tables.

Inputs are the files the engines write, read as data (``docs/study.md`` section 6 and
the ``bayes``/``sgd`` commands):

- Bayesian occupancy: rows ``(n, phase, fraction, lower, upper, chains)``;
- Bayesian transitions: the transitions hand-off (``from, to, n, lower, upper, predicted_n, ...``
  over ``transition``, :data:`comparisons.contracts.TRANSITIONS`);
- SGD plateaus: the plateaus hand-off (``run, order, phase, start_step, end_step, loss, llc`` over
  ``plateau``, and their moves ``move_run, move_from, move_to`` over ``move``,
  :data:`comparisons.contracts.PLATEAUS`).

Every verdict comes with the numbers it was computed from.
"""

from __future__ import annotations

__all__ = ["dominant_sequence", "bayes_moves", "Verdict", "monotone_verdict",
           "prediction_verdict", "transition_comparison", "phase_coordinates",
           "learning_coefficients", "llc_scale_table", "sgd_llc_medians", "sgd_moves", "switch_lines"]

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import xarray as xr

from .contracts import level_switches
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


def switch_lines(transitions: xr.Dataset) -> list[str]:
    """One printed line per transition of a transitions hand-off: where, its interval, the predictions."""
    lines = []
    for i in range(transitions.sizes["transition"]):
        t = transitions.isel(transition=i)
        pred = ", ".join(f"{float(t[k]):.0f} ({name})" for k, name in (("predicted_n", "asymptotic"),
                                                                      ("predicted_n_laplace", "with O(1) terms"))
                         if k in t and np.isfinite(t[k]))
        level = f"{t['level'].item()} " if t["level"].item() != "phase" else ""
        lines.append(f"{level}switch {t['from'].item()} -> {t['to'].item()} at n = {float(t['n']):.0f} "
                     f"[{float(t['lower']):.0f}, {float(t['upper']):.0f}]"
                     + (f"; free energy predicts {pred}" if pred else ""))
    return lines


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


def llc_scale_table(phases: Sequence[Phase], plateaus: xr.Dataset) -> list[dict]:
    """Per phase seen by SGD: its learning coefficient beside the plateau estimates at the protocol's n.

    Returns rows ``{"phase", "loss", "llc", "llc_se", "kind", "plateaus", "estimate" (median SGLD
    estimate over the plateaus), "estimate_iqr", "bias" (estimate - llc)}``; the estimate is
    what SGLD at finite ``n`` reports, the coefficient what it estimates.
    """
    coef = learning_coefficients(phases)
    loss = {p.label: p.loss for p in phases}
    per = {k: v for k, v in _plateau_llc(plateaus).items() if k in loss}
    rows = []
    for label in sorted(per, key=lambda k: -loss[k]):
        est = np.asarray(per[label])
        lam, se, kind = coef.get(label, (np.nan, np.nan, "bound only"))
        q1, q3 = np.quantile(est, [0.25, 0.75])
        rows.append({"phase": label, "loss": loss[label], "llc": lam, "llc_se": se, "kind": kind,
                     "plateaus": int(est.size), "estimate": float(np.median(est)),
                     "estimate_iqr": f"{q1:.2f}-{q3:.2f}", "bias": float(np.median(est) - lam)})
    return rows


def _plateau_llc(plateaus: xr.Dataset) -> dict[str, np.ndarray]:
    """Phase -> the finite SGLD estimates of its plateaus (the plateaus hand-off), in plateau order."""
    finite = plateaus.isel(plateau=np.isfinite(plateaus["llc"].values))
    phase, llc = finite["phase"].values.astype(str), finite["llc"].values.astype(float)
    return {str(k): llc[phase == k] for k in dict.fromkeys(phase)}


def sgd_llc_medians(plateaus: xr.Dataset) -> dict[str, float]:
    """Phase -> median SGLD estimate over its plateaus (the plateaus hand-off; NaN estimates left out)."""
    return {k: float(np.median(v)) for k, v in _plateau_llc(plateaus).items()}


def sgd_moves(plateaus: xr.Dataset) -> list[tuple[int, str, str]]:
    """The moves of the plateaus hand-off as ``(run, from, to)``, in time order per run."""
    return list(zip(plateaus["move_run"].values.tolist(), plateaus["move_from"].values.astype(str).tolist(),
                    plateaus["move_to"].values.astype(str).tolist()))


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


def prediction_verdict(transitions: xr.Dataset) -> list[Verdict]:
    """For each measured Bayesian switch: does each free-energy prediction fall in its interval?

    ``transitions`` is a transitions hand-off. Two predictions are judged where present:
    ``predicted_n`` (the asymptotic formula ``n L + lambda log n + |w*|^2/2``) and
    ``predicted_n_laplace`` (with the O(1) terms); a NaN one (none) is undecided.
    """
    out = []
    kinds = [(k, name) for k, name in (("predicted_n", "asymptotic free energy"),
                                       ("predicted_n_laplace", "free energy with O(1) terms")) if k in transitions]
    for i in range(transitions.sizes["transition"]):
        t = transitions.isel(transition=i)
        n, lo, hi = (float(t[k]) for k in ("n", "lower", "upper"))
        level = " (families)" if t["level"].item() == "family" else ""
        for key, name in kinds:
            pred = float(t[key])
            q = f"Bayesian switch {t['from'].item()} -> {t['to'].item()}{level} where the {name} predicts?"
            if not np.isfinite([pred, lo, hi]).all():
                lo_, hi_, pred_ = (v if np.isfinite(v) else None for v in (lo, hi, pred))  # NaN: none
                out.append(Verdict(q, "undecided", f"measured n = {n}, interval [{lo_}, {hi_}], predicted {pred_}"))
                continue
            ratio = pred / n if n else float("nan")
            out.append(Verdict(q, "yes" if lo <= pred <= hi else "no",
                               f"measured n = {n:.0f} (interval {lo:.0f} to {hi:.0f}), predicted "
                               f"{pred:.0f} (predicted/measured = {ratio:.2f})"))
    return out


def transition_comparison(bayes_transitions: xr.Dataset | None, plateaus: xr.Dataset | None) -> list[dict]:
    """Side-by-side table: every move seen in either process.

    ``bayes_transitions`` is a transitions hand-off (its phase level is used), ``plateaus`` the SGD
    plateaus hand-off (its moves, over ``attrs["runs"]`` runs); either may be None. Returns rows
    ``{"from", "to", "bayes_n", "bayes_interval", "predicted_n", "predicted_n_laplace",
    "sgd_count", "sgd_runs_fraction"}``; ``bayes_n`` is None for moves the posterior does not make.
    """
    sgd = sgd_moves(plateaus) if plateaus is not None else []
    n_runs = int(plateaus.attrs["runs"]) if plateaus is not None else 0
    counts = Counter((a, b) for _, a, b in sgd)
    runs_with = {k: len({r for r, a, b in sgd if (a, b) == k}) for k in counts}
    rows = {}
    phase = level_switches(bayes_transitions) if bayes_transitions is not None else None
    names = ("from", "to", "n", "lower", "upper", "predicted_n", "predicted_n_laplace")
    for a, b, n, lo, hi, pred, lap in (zip(*(phase[k].values.tolist() for k in names)) if phase is not None else ()):
        rows[(a, b)] = {"from": a, "to": b, "bayes_n": n, "bayes_interval": (lo, hi), "predicted_n": pred,
                        "predicted_n_laplace": lap, "sgd_count": counts.get((a, b), 0),
                        "sgd_runs_fraction": runs_with.get((a, b), 0) / n_runs if n_runs else float("nan")}
    for key, k in counts.items():
        if key not in rows:
            rows[key] = {"from": key[0], "to": key[1], "bayes_n": None, "bayes_interval": (None, None),
                         "predicted_n": None, "predicted_n_laplace": None, "sgd_count": k,
                         "sgd_runs_fraction": runs_with[key] / n_runs if n_runs else float("nan")}
    return sorted(rows.values(), key=lambda r: (r["bayes_n"] is None, r["bayes_n"] or 0, -r["sgd_count"]))
