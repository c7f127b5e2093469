"""How accurate are the LLC estimates? The analysis side: theory values, regimes, table and figure.

One row per (phase, n, method): the localised LLC estimate ``lambda_hat(w*)`` at the enumerated
phase ``w*`` (``docs/study.md`` section 4) beside ``Phase.llc`` where ``L`` is C^2 at the phase,
else the upper bound ``Phase.llc_bound`` (``theory_kind`` "bound"). The rows are computed by the
job :mod:`comparisons.jobs.llc_accuracy`; this module imports no engine.
"""

from __future__ import annotations

__all__ = ["METHODS", "DEFAULT_LABELS", "COLUMNS", "REGIME_Z", "REGIME_REL", "phase_of", "theory_llc",
           "quadratic_llc", "regime", "checked_grid", "rows_to_csv", "plot_llc_vs_n"]

import csv
import io
import math
from typing import Iterable, Sequence

from ..errors import InputError, check_positive_int
from ..theory import LLCSettings, enumerate_phases


METHODS = ("nuts", "sgld")


#: phases of the accuracy table per c
DEFAULT_LABELS = {6: ("4", "4+", "4++", "5", "5+", "6"), 7: ("5", "5+", "6", "6+", "7")}


COLUMNS = ["phase", "n", "method", "llc", "se", "theory", "theory_kind", "rel_error", "quadratic",
           "gamma", "nbeta", "wall_s", "diagnostic"]


def phase_of(c: int, label: str):
    c = check_positive_int("features", c, minimum=2)
    phases = {p.label: p for p in enumerate_phases(c)}
    if label not in phases:
        raise InputError(f"phase: expected one of {', '.join(phases)} for c = {c}, got {label!r}")
    return phases[label]


def theory_llc(c: int, label: str) -> tuple[float, str]:
    """Theoretical LLC of phase ``label`` in ``c`` features and its kind.

    Returns
    -------
    value : float
        ``Phase.llc`` (Hessian rank / 2) where ``L`` is C^2 at the phase, else ``Phase.llc_bound``.
    kind : {"exact", "bound"}

    Examples
    --------
    >>> theory_llc(6, "6"), theory_llc(6, "4")
    ((8.5, 'exact'), (7.5, 'bound'))
    """
    p = phase_of(c, label)
    return (float(p.llc), "exact") if p.llc is not None else (float(p.llc_bound), "bound")


def quadratic_llc(c: int, label: str, n: int, gamma: float = 1.0, beta: float | None = None) -> float:
    """What the estimator gives at finite ``n`` and ``gamma`` if ``L_n`` were the quadratic
    ``(1/2) dw^T H dw`` of the population Hessian at the phase (a Gaussian target).

    Notes
    -----
    Each Hessian eigenvalue ``h > 0`` contributes ``(1/2) n beta h / (n beta h + gamma)``
    (``beta = 1/log n`` unless given), which is ``1/2`` only when ``n beta h >> gamma``: the localisation
    bias, always downward. The flat and dead directions contribute 0. This is the part of the
    gap to ``rank/2`` that is explained by ``gamma``; what remains is non-Gaussianity (the
    ReLU kinks, cubic terms) or the posterior leaving the basin.

    Examples
    --------
    >>> round(quadratic_llc(6, "6", 10_000, 1.0), 3)
    8.43
    """
    p = phase_of(c, label)
    n = check_positive_int("n", n, minimum=2)
    nbeta = LLCSettings(beta=beta).nbeta(n)
    h = [float(e) for e in p.hessian_eigenvalues if e > 1e-6]
    return sum(0.5 * nbeta * e / (nbeta * e + gamma) for e in h)


#: an estimate within this many standard errors (plus REGIME_REL of the value) of the Gaussian
#: prediction at its n and gamma is in the regime where the accuracy table's comparison holds
REGIME_Z = 3.0


REGIME_REL = 0.05


def regime(llc: float, se: float, quadratic: float, theory_kind: str) -> dict:
    """Is the estimate in the regime where it estimates the phase's learning coefficient?

    :func:`quadratic_llc` is what the estimator gives at this ``n`` and ``gamma`` if the loss
    were its quadratic (Gaussian) approximation: the accuracy table's estimates converge to the
    theory exactly as they approach it. An estimate farther than ``REGIME_Z`` SE plus
    ``REGIME_REL`` of that prediction is outside that regime (non-Gaussian posterior at small
    ``n beta``, or a chain leaving the basin), and so is any estimate on a non-C^2 wall, where the
    quadratic model does not apply.

    Returns
    -------
    dict
        ``{"gaussian_prediction", "z", "in_validated_regime", "reason"}``.
    """
    if theory_kind != "exact":
        return {"gaussian_prediction": quadratic, "z": math.nan, "in_validated_regime": False,
                "reason": "non-C^2 wall: no Gaussian prediction and no exact learning coefficient"}
    if not (math.isfinite(llc) and math.isfinite(se)):
        return {"gaussian_prediction": quadratic, "z": math.nan, "in_validated_regime": False,
                "reason": "no finite estimate"}
    gap = llc - quadratic
    z = gap / se if se > 0 else (0.0 if gap == 0 else math.copysign(math.inf, gap))
    ok = abs(llc - quadratic) <= REGIME_Z * se + REGIME_REL * abs(quadratic)
    return {"gaussian_prediction": quadratic, "z": z, "in_validated_regime": bool(ok),
            "reason": ("" if ok else f"the estimate is {llc - quadratic:+.2f} ({z:+.1f} SE) from the Gaussian "
                       f"prediction {quadratic:.2f} at this n and gamma: raise n or gamma")}


def checked_grid(c: int, labels: Sequence[str] | None, ns: Sequence[int],
                  methods: Sequence[str]) -> tuple[tuple[str, ...], list[int]]:
    """Default and validate the phase labels, sample sizes and methods of a table."""
    if labels is None:
        labels = DEFAULT_LABELS.get(c) or tuple(p.label for p in enumerate_phases(c)
                                               if p.k >= c - 2 and "-" not in p.label)
    for lab in labels:
        phase_of(c, lab)
    for m in methods:
        if m not in METHODS:
            raise InputError(f"method: expected one of {', '.join(METHODS)}, got {m!r}")
    return tuple(labels), [check_positive_int("n", n, minimum=2) for n in ns]


def rows_to_csv(rows: Iterable[dict]) -> str:
    """CSV text of table rows (columns :data:`COLUMNS`)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def plot_llc_vs_n(rows: Sequence[dict], path) -> None:
    """``llc_vs_n.png``: estimate (+- 2 se) against n per phase and method, theory as a line.

    One panel per phase; a dashed theory line where the theory is exact, dotted where it is the
    Hessian-rank upper bound (non-C^2 phases).
    """
    import matplotlib.pyplot as plt

    from ..io import save_figure

    labels = list(dict.fromkeys(r["phase"] for r in rows))
    if not labels:
        raise InputError("rows: expected at least one estimate to plot, got none")
    cols = min(3, len(labels))
    nrows = math.ceil(len(labels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    markers = {"nuts": ("o", "C0"), "sgld": ("s", "C1")}
    for ax, lab in zip(axes.flat, labels):
        sub = [r for r in rows if r["phase"] == lab]
        for k, m in enumerate(METHODS):
            pts = sorted((r["n"], r["llc"], r["se"]) for r in sub if r["method"] == m)
            if not pts:
                continue
            mk, col = markers[m]
            ns = [p[0] * (1.04 if k else 0.96) for p in pts]
            ax.errorbar(ns, [p[1] for p in pts], yerr=[2 * p[2] if math.isfinite(p[2]) else 0 for p in pts],
                        fmt=mk + "-", color=col, ms=4, capsize=2, label=m.upper())
        th, kind = sub[0]["theory"], sub[0]["theory_kind"]
        ax.axhline(th, color="k", ls="--" if kind == "exact" else ":",
                   label="theory" if kind == "exact" else "rank/2 bound")
        ax.set_xscale("log")
        ax.set_title(f"phase {lab}")
        ax.set_xlabel("n")
        ax.set_ylabel("LLC estimate")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(labels):]:
        ax.set_visible(False)
    fig.suptitle("Localised LLC (beta* = 1/log n) against n: NUTS, SGLD and theory")
    fig.tight_layout()
    save_figure(fig, path)
