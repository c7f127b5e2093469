"""Measured free energies against Watanabe's asymptotic formula (numpy only; no PyMC here).

Inputs are measurements made by the engines:

- the Bayes free energy ``-log Z_n`` at each ``n`` (SMC, :func:`bayes_tms.smc.smc_log_evidence`;
  ``Z_n = E_prior[exp(-n beta L_n)]``, prior normalisation included);
- the posterior mass of each phase at each ``n``, ``log m_n(alpha)`` (normalised over regions):
  either the ladder bridge estimate of a NUTS run (``log_mass.csv`` of ``tms-phases bayes``,
  :func:`bayes_tms.reweight.reweighted_occupancy`) or the SMC particle fractions.

The measured local free energy of phase ``alpha`` is then

``F_n(alpha) = -log Z_n - log m_n(alpha)``   (``= -log ∫_{basin alpha} phi exp(-n beta L_n)``).

The asymptotic formula (:func:`comparisons.theory.free_energy`)
``n L(w*) + lambda log n + |w*|^2 / (2 sigma^2)`` omits an ``n``-independent constant (prior
normalisation ``(d/2) log(2 pi sigma^2)``, Hessian determinants, orbit volumes...), so it is
compared up to **one shared constant**, fitted at the smallest ``n`` of the ladder by aligning the
asymptotic global free energy ``-log sum_alpha exp(-F_n(alpha))`` with the measured ``-log Z_n``.
Per-phase O(1) differences that the formula omits then show up as offsets between the measured and
asymptotic per-phase curves, and they move the critical sample sizes.
"""

from __future__ import annotations

__all__ = ["asymptotic_curves", "evidence_table", "local_free_energies", "measured_crossings",
           "plot_free_energy"]

from typing import Mapping, Sequence

import numpy as np
import xarray as xr
from scipy.special import logsumexp

from .errors import InputError
from .theory import crossings as theory_crossings
from .theory import free_energy
from .theory.kgons import Phase

UNCLASSIFIED = "unclassified"


def asymptotic_curves(phases: Sequence[Phase], ns, prior_sigma: float = 1.0,
                      llc: Mapping[str, float] | None = None, beta: float = 1.0) -> dict:
    """Asymptotic ``F_n`` per phase, their minimum and their log-sum-exp, at every ``n`` (at ``beta``).

    Returns
    -------
    dict
        ``labels`` (list of str), ``F`` (ndarray ``(phases, len(ns))``), ``min_F`` and ``lse_F``
        (``-log sum_alpha exp(-F_n(alpha))``), each ``(len(ns),)``.
    """
    ns = np.asarray(ns, dtype=float)
    F = free_energy(phases, ns, llc=llc, prior_sigma=prior_sigma, beta=beta)
    return {"labels": [p.label for p in phases], "F": F, "min_F": F.min(axis=0),
            "lse_F": -logsumexp(-F, axis=0)}


def evidence_table(ns, log_evidence, log_evidence_se, phases: Sequence[Phase],
                   prior_sigma: float = 1.0, spread=None, beta: float = 1.0) -> tuple[list[dict], float]:
    """Rows of ``free_energy.csv`` and the fitted constant.

    Parameters
    ----------
    ns : array_like, shape (m,)
    log_evidence, log_evidence_se : array_like, shape (m,)
        Mean ``log Z_n`` over SMC runs and its standard error.
    phases : sequence of Phase
        Phases in the asymptotic sum (normally all of ``enumerate_phases(c)``).
    spread : array_like, shape (m,), optional
        Max - min of ``log Z_n`` over runs.
    beta : float
        Inverse temperature of the posterior whose evidence was measured; the asymptotic
        curves are evaluated at it.

    Returns
    -------
    rows : list of dict
        ``{n, log_evidence, se, spread, free_energy, asymptotic_min_F, asymptotic_lse_F,
        constant, dominant_asymptotic}``; the asymptotic columns include the constant.
    constant : float
        ``-log Z_{n0} - lse_F(n0)`` at the smallest ``n0``.
    """
    ns = np.asarray(ns, dtype=float)
    logz = np.asarray(log_evidence, dtype=float)
    se = np.asarray(log_evidence_se, dtype=float)
    if ns.shape != logz.shape or ns.shape != se.shape or ns.size == 0:
        raise InputError(f"evidence: expected equal-length n, log_evidence and se, got {ns.shape}, {logz.shape}, {se.shape}")
    order = np.argsort(ns)
    ns, logz, se = ns[order], logz[order], se[order]
    spread = np.full(ns.shape, np.nan) if spread is None else np.asarray(spread, dtype=float)[order]
    cur = asymptotic_curves(phases, ns, prior_sigma, beta=beta)
    finite = np.isfinite(logz)
    if not finite.any():
        raise InputError("log_evidence: expected at least one finite value, got none")
    k0 = int(np.argmax(finite))
    const = float(-logz[k0] - cur["lse_F"][k0])
    dom = np.asarray(cur["labels"])[np.argmin(cur["F"], axis=0)]
    rows = [{"n": int(n), "log_evidence": float(logz[k]), "se": float(se[k]), "spread": float(spread[k]),
             "free_energy": float(-logz[k]), "asymptotic_min_F": float(cur["min_F"][k] + const),
             "asymptotic_lse_F": float(cur["lse_F"][k] + const), "constant": const,
             "dominant_asymptotic": str(dom[k])} for k, n in enumerate(ns)]
    return rows, const


def local_free_energies(evidence: Mapping[int, tuple[float, float]], log_mass: xr.Dataset,
                        phases: Sequence[Phase], constant: float = 0.0, prior_sigma: float = 1.0,
                        method: str = "", beta: float = 1.0) -> list[dict]:
    """Measured ``F_n(alpha) = -log Z_n - log m_n(alpha)`` beside the asymptotic formula.

    Parameters
    ----------
    evidence : mapping n -> (log Z_n, se)
    log_mass : xarray.Dataset
        An occupancy hand-off (:data:`comparisons.contracts.OCCUPANCY`) with ``log_mass``,
        ``log_mass_lower`` and ``log_mass_upper`` over ``(estimator, n, phase)``: the log of the
        normalised posterior mass of each phase (its first estimator is used).
    phases : sequence of Phase
    constant : float
        Shared constant added to the asymptotic values (from :func:`evidence_table`).
    method : str
        Written into each row (e.g. ``"nuts_bridge"``, ``"smc_particles"``).
    beta : float
        Inverse temperature at which the asymptotic formula is evaluated.

    Returns
    -------
    list of dict
        ``{n, phase, method, measured_F, lower, upper, asymptotic_F}`` in ``(n, phase)`` order:
        ``lower/upper`` combine the interval of ``log m`` with ``±2 se`` of ``log Z`` (added
        linearly; NaN where a bound is); ``asymptotic_F`` is NaN for regions without a
        theory (``unclassified``). Cells without a finite ``log_mass``, or whose ``n`` has no
        evidence, are skipped.
    """
    by_label = {p.label: p for p in phases}
    one = log_mass.isel(estimator=0) if "estimator" in log_mass.dims else log_mass
    lms, los, his = (np.asarray(one[k].transpose("n", "phase").values, dtype=float)
                     for k in ("log_mass", "log_mass_lower", "log_mass_upper"))
    out = []
    for i, n in enumerate(int(v) for v in one["n"].values):
        if n not in evidence:
            continue
        logz, se = evidence[n]
        se = 0.0 if not np.isfinite(se) else float(se)
        for j, label in enumerate(str(v) for v in one["phase"].values):
            lm = float(lms[i, j])
            if not np.isfinite(lm):
                continue
            lo, hi = float(los[i, j]), float(his[i, j])
            ph = by_label.get(label)
            asym = (float(free_energy([ph], float(n), prior_sigma=prior_sigma, beta=beta)[0]) + constant
                    if ph else float("nan"))
            out.append({"n": n, "phase": label, "method": method, "measured_F": float(-logz - lm),
                        "lower": float(-logz - hi - 2 * se), "upper": float(-logz - lo + 2 * se),
                        "asymptotic_F": asym})
    return out


def measured_crossings(rows: Sequence[Mapping], phases: Sequence[Phase], prior_sigma: float = 1.0,
                       n_max: float = 1e6, beta: float = 1.0) -> list[dict]:
    """Critical sample sizes from measured ``F_n`` curves, beside the theory's.

    For each pair of phases measured at two or more common ``n``, every sign change of
    ``F_n(a) - F_n(b)`` between neighbouring ``n`` gives a crossing, located by linear
    interpolation of the difference in ``log n``.

    Returns
    -------
    list of dict
        ``{"from", "to", "n", "predicted_n", "dominant"}``: ``from`` has the lower measured
        ``F`` just below the crossing; ``predicted_n`` is the theory's crossing of the same
        pair at ``beta`` nearest to it (None if the theory has none); ``dominant`` is True when the pair are
        the two lowest measured ``F`` on both sides (a change of the dominant phase).
    """
    by_label = {p.label: p for p in phases}
    curves: dict[str, dict[int, float]] = {}
    for r in rows:
        if r["phase"] in by_label and np.isfinite(r["measured_F"]):
            curves.setdefault(r["phase"], {})[int(r["n"])] = float(r["measured_F"])
    all_ns = sorted({n for c in curves.values() for n in c})
    argmin = {n: min((c[n], lab) for lab, c in curves.items() if n in c)[1] for n in all_ns}
    labels = sorted(curves)
    out = []
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            common = sorted(set(curves[a]) & set(curves[b]))
            for n1, n2 in zip(common[:-1], common[1:]):
                d1 = curves[a][n1] - curves[b][n1]
                d2 = curves[a][n2] - curves[b][n2]
                if d1 == 0 or d1 * d2 >= 0:
                    continue
                t = d1 / (d1 - d2)
                n_star = float(np.exp(np.log(n1) + t * (np.log(n2) - np.log(n1))))
                lo, hi = (a, b) if d1 < 0 else (b, a)
                theory = [e["n"] for e in theory_crossings([by_label[a], by_label[b]], n_max=n_max,
                                                           prior_sigma=prior_sigma, beta=beta)]
                pred = min(theory, key=lambda v: abs(np.log(v / n_star))) if theory else None
                out.append({"from": lo, "to": hi, "n": n_star, "predicted_n": pred,
                            "dominant": bool(argmin[n1] == lo and argmin[n2] == hi)})
    return sorted(out, key=lambda e: e["n"])


def plot_free_energy(evidence_rows: Sequence[Mapping], phase_rows: Sequence[Mapping],
                     crossings: Sequence[Mapping] = (), features: int | None = None, beta: float = 1.0):
    """Figure: measured vs asymptotic free energies (global, and per phase relative to the global).

    Left: ``-log Z_n`` (SMC, error bars ``2 se``) with the asymptotic ``min_alpha F_n`` and
    ``-log sum exp(-F_n)`` (shifted by the constant fitted at the smallest ``n``). Right:
    ``F_n(alpha) - (-log Z_n)`` = ``-log m_n(alpha)``, measured (markers with intervals) and
    asymptotic (lines: ``F_n^asym(alpha) + C + log Z_n``), measured crossings as vertical dashed
    lines, predicted ones dotted.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    ns = np.array([r["n"] for r in evidence_rows], dtype=float)
    fe = np.array([r["free_energy"] for r in evidence_rows])
    se = np.array([r["se"] for r in evidence_rows], dtype=float)
    ax1.errorbar(ns, fe, yerr=2 * np.nan_to_num(se), fmt="o", color="k", label="-log Z_n (SMC)")
    ax1.plot(ns, [r["asymptotic_lse_F"] for r in evidence_rows], "-", color="C0",
             label="asymptotic -log Σ exp(-F_n(α)) + C")
    ax1.plot(ns, [r["asymptotic_min_F"] for r in evidence_rows], "--", color="C1",
             label="asymptotic min_α F_n(α) + C")
    from .figure2 import set_n_ticks

    ax1.set_xscale("log")
    ax1.set_xlabel("n (training samples, log scale)")
    set_n_ticks(ax1, ns.min() * 0.9, ns.max() * 1.1)
    ax1.set_ylabel("free energy (nats)")
    ax1.set_title("Bayes free energy" + (f", c = {features}" if features else "") + f", beta = {beta:g}\n"
                  "(C fitted at the smallest n)", fontsize=10)
    ax1.legend(fontsize=8)
    logz = {int(r["n"]): r["log_evidence"] for r in evidence_rows}
    # the phases that hold at least 5% of the mass somewhere (-log mass <= -log 0.05): the others
    # would bury them under dozens of legend entries
    phases = sorted({r["phase"] for r in phase_rows if r["phase"] != UNCLASSIFIED
                     and r["measured_F"] + logz.get(int(r["n"]), np.inf) <= -np.log(0.05)})
    methods = sorted({r.get("method", "") for r in phase_rows})
    marker = {m: mk for m, mk in zip(methods, "osd^")}
    for i, ph in enumerate(phases):
        col = f"C{i % 10}"
        for m in methods:
            rs = sorted((r for r in phase_rows if r["phase"] == ph and r.get("method", "") == m),
                        key=lambda r: r["n"])
            if not rs:
                continue
            x = np.array([r["n"] for r in rs], dtype=float)
            z = np.array([logz[r["n"]] for r in rs])
            y = np.array([r["measured_F"] for r in rs]) + z
            lo = y - (np.array([r["lower"] for r in rs]) + z)
            hi = (np.array([r["upper"] for r in rs]) + z) - y
            ax2.errorbar(x, y, yerr=[np.maximum(lo, 0), np.maximum(hi, 0)], fmt=marker[m], color=col,
                         ms=4, capsize=2, label=f"{ph} measured ({m})" if m else f"{ph} measured")
        rs = sorted((r for r in phase_rows if r["phase"] == ph), key=lambda r: r["n"])
        xs = sorted({r["n"] for r in rs})
        asym = {r["n"]: r["asymptotic_F"] for r in rs}
        ax2.plot(xs, [asym[n] + logz[n] for n in xs], "-", color=col, alpha=0.7)
    for k, c in enumerate(crossings):
        if c.get("dominant"):
            ax2.axvline(c["n"], ls="--", color="grey", lw=1)
            ax2.annotate(f"{c['from']}→{c['to']}", (c["n"], 1.01), xycoords=("data", "axes fraction"),
                         fontsize=7, ha="center", va="bottom")  # above the axes, clear of the data
            if c.get("predicted_n"):
                ax2.axvline(c["predicted_n"], ls=":", color="grey", lw=1)
    ax2.set_xscale("log")
    ax2.set_xlabel("n (training samples, log scale)")
    set_n_ticks(ax2, ns.min() * 0.9, ns.max() * 1.1)
    ax2.set_ylabel("F_n(α) + log Z_n = -log mass(α) (nats)")
    ax2.set_title("local free energies\n(markers: measured; lines: asymptotic + C)", fontsize=10, pad=14)
    ax2.legend(fontsize=7, ncol=1, loc="center left", bbox_to_anchor=(1.01, 0.5))  # outside: clear of the data
    fig.tight_layout()
    return fig
