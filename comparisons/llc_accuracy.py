"""How accurate are the LLC estimates? NUTS and SGLD against the k-gon theory, across n.

One row per (phase, n, method): the localised LLC estimate ``lambda_hat(w*)`` at the enumerated
phase ``w*`` (``docs/study.md`` section 4), on the data set ``sample_inputs(n, c, seed)``
(prefix-stable: the data sets of a ladder of n are nested), beside ``Phase.llc`` where ``L`` is
C^2 at the phase, else the upper bound ``Phase.llc_bound`` (``theory_kind`` "bound").

Both engines are imported lazily, inside the functions that run them: importing this module
loads neither torch nor PyMC. NUTS (:func:`bayes_tms.nuts_llc`) samples the localised tempered
posterior exactly; SGLD (:func:`sgd_tms.calibration.sgld_point_llc`) with
:func:`sgd_tms.calibration.recommended_config` unless a step size is given.
"""

from __future__ import annotations

__all__ = ["METHODS", "DEFAULT_LABELS", "theory_llc", "quadratic_llc", "llc_estimate", "regime",
           "rows_to_csv", "write_table", "plot_llc_vs_n", "calibration_table", "COLUMNS"]

import csv
import io
import math
import time
from typing import Iterable, Sequence

from .errors import InputError, check_positive_int
from .theory import LLCSettings, child_sequence, enumerate_phases, sample_inputs

METHODS = ("nuts", "sgld")

#: phases of the accuracy table per c
DEFAULT_LABELS = {6: ("4", "4+", "4++", "5", "5+", "6"), 7: ("5", "5+", "6", "6+", "7")}

COLUMNS = ["phase", "n", "method", "llc", "se", "theory", "theory_kind", "rel_error", "quadratic",
           "gamma", "nbeta", "wall_s", "diagnostic"]


def _phase(c: int, label: str):
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
    p = _phase(c, label)
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
    p = _phase(c, label)
    n = check_positive_int("n", n, minimum=2)
    nbeta = LLCSettings(beta=beta).nbeta(n)
    h = [float(e) for e in p.hessian_eigenvalues if e > 1e-6]
    return sum(0.5 * nbeta * e / (nbeta * e + gamma) for e in h)


def llc_estimate(c: int, label: str, n: int, method: str, *, seed: int = 0, gamma: float = 1.0,
                 chains: int | None = None, draws: int | None = None, warmup: int | None = None,
                 step_size: float | None = None, progress: bool = False, beta: float | None = None) -> dict:
    """LLC at phase ``label`` from ``n`` samples by ``method``; one table row.

    Parameters
    ----------
    c : int
        Features (r = 2).
    label : str
        Phase label of :func:`comparisons.theory.enumerate_phases`.
    n : int
        Sample size, ``>= 2`` (``beta* = 1/log n``).
    method : {"nuts", "sgld"}
    seed : int
        Seeds the data (``sample_inputs(n, c, seed)``) and the sampler.
    gamma : float
        Localisation strength.
    chains, draws, warmup : int, optional
        Sampler sizes (NUTS: default 4, 1000, 1000 tuning; SGLD: the recommended 32, 8000,
        2000 burn-in; ``draws`` counts SGLD steps including the burn-in).
    step_size : float, optional
        SGLD step (default ``STEP_NBETA / (n beta)``); ignored by NUTS.
    beta : float, optional
        Inverse temperature of the localised posterior (default ``beta* = 1/log n``).

    Returns
    -------
    dict
        Keys :data:`COLUMNS`; ``diagnostic`` is NUTS divergences + ESS or SGLD MALA acceptance,
        below-start fraction and mean distance from ``w*``.
    """
    if method not in METHODS:
        raise InputError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    n = check_positive_int("n", n, minimum=2)
    p = _phase(c, label)
    theory, kind = theory_llc(c, label)
    x = sample_inputs(n, c, seed)
    if method == "nuts":
        from bayes_tms import nuts_llc

        kw = {k: v for k, v in (("chains", chains), ("draws", draws), ("tune", warmup)) if v is not None}
        t0 = time.perf_counter()
        if beta is not None:
            kw["beta"] = beta
        est = nuts_llc(p.W, p.b, x, gamma=gamma, seed=child_sequence(seed, "llc", "nuts"), progress=progress, **kw)
        wall = time.perf_counter() - t0
        rejections = getattr(est, "wall_rejections", -1)
        diag = (f"divergences={est.divergences}" + (f" (basin wall {rejections})" if rejections >= 0 else "")
                + f" ess={est.ess:.0f}")
    else:
        import dataclasses

        from sgd_tms.calibration import recommended_config, sgld_point_llc

        kw = {k: v for k, v in (("chains", chains), ("draws", draws), ("burn_in", warmup)) if v is not None}
        cfg = recommended_config(n, gamma=gamma, seed=seed, beta=beta, **kw)
        if step_size is not None:
            cfg = dataclasses.replace(cfg, step_size=step_size)
        est = sgld_point_llc(p.W, p.b, x, cfg, progress=progress)
        wall = est.wall_s
        diag = (f"accept={est.accept:.4f} below={est.below_fraction:.3f} "
                f"distance={est.distance:.3f} escaped={est.escaped}")
    llc = float(est.llc)
    quad = quadratic_llc(c, label, n, gamma, beta)
    return {"phase": label, "n": n, "method": method, "llc": llc, "se": float(est.se),
            "theory": theory, "theory_kind": kind, "quadratic": quad,
            "rel_error": (llc - theory) / theory if math.isfinite(llc) else math.nan,
            "gamma": gamma, "nbeta": float(est.nbeta), "wall_s": wall, "diagnostic": diag,
            "diagnostics": _diagnostics(est, method), "regime": regime(llc, float(est.se), quad, kind)}


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


def _diagnostics(est, method: str) -> dict:
    """The sampler's own diagnostics of one estimate, as JSON-ready scalars."""
    if method == "nuts":
        wall = getattr(est, "wall_rejections", -1)
        return {"backend": est.backend, "chains": est.chains, "draws": est.draws, "ess": est.ess,
                "divergences": est.divergences, "wall_rejections": wall,
                "numerical_divergences": est.divergences - wall if wall >= 0 else -1,
                "failed_chains": est.failed_chains, "restrict": est.restrict,
                "basin_fraction": est.basin_fraction,
                "note": ("" if not est.restrict else
                         "wall_rejections: divergent trajectories that ended outside the basin (the "
                         "restricted target's wall stopped them); -1 where the back-end cannot tell")}
    return {"backend": "torch", "chains": est.chains, "draws": est.draws, "burn_in": est.burn_in,
            "step_size": est.step_size, "mala_accept": est.accept, "escaped": est.escaped,
            "nonfinite": est.nonfinite, "below_start_fraction": est.below_fraction,
            "mean_distance": est.distance, "max_distance": est.max_distance}


def _checked_grid(c: int, labels: Sequence[str] | None, ns: Sequence[int],
                  methods: Sequence[str]) -> tuple[tuple[str, ...], list[int]]:
    """Default and validate the phase labels, sample sizes and methods of a table."""
    if labels is None:
        labels = DEFAULT_LABELS.get(c) or tuple(p.label for p in enumerate_phases(c)
                                               if p.k >= c - 2 and "-" not in p.label)
    for lab in labels:
        _phase(c, lab)
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


def write_table(rows: Sequence[dict], out_dir) -> tuple:
    """Write a table of estimates: ``llc.nc`` (the ``llc`` hand-off of :mod:`comparisons.contracts`)
    and its CSV export ``llc_table.csv`` (columns :data:`COLUMNS`); returns both paths."""
    from pathlib import Path

    from .contracts import llc_table_dataset
    from .io import write_netcdf, write_text

    out = Path(out_dir)
    return (write_netcdf(llc_table_dataset(rows), out / "llc.nc"),
            write_text(out / "llc_table.csv", rows_to_csv(rows)))


def plot_llc_vs_n(rows: Sequence[dict], path) -> None:
    """``llc_vs_n.png``: estimate (+- 2 se) against n per phase and method, theory as a line.

    One panel per phase; a dashed theory line where the theory is exact, dotted where it is the
    Hessian-rank upper bound (non-C^2 phases).
    """
    import matplotlib.pyplot as plt

    from .io import save_figure

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


def calibration_table(c: int, label: str, n: int, step_nbetas: Sequence[float] = (0.01, 0.03, 0.1, 0.3, 1.0),
                      gammas: Sequence[float] = (1.0, 10.0, 100.0), *, seed: int = 0,
                      nuts_draws: int = 2000, chains: int | None = None, draws: int | None = None,
                      warmup: int | None = None):
    """SGLD step size x gamma sweep at phase ``label`` with the NUTS value at each gamma as reference.

    Parameters
    ----------
    step_nbetas : sequence of float
        Step sizes as ``epsilon n beta`` (converted with ``beta* = 1/log n``).
    gammas : sequence of float
    nuts_draws : int
        Draws (and tuning steps) of each of 4 NUTS chains for the reference.
    chains, draws, warmup : int, optional
        SGLD sizes (default :func:`sgd_tms.calibration.recommended_config`).

    Returns
    -------
    xarray.Dataset
        :func:`sgd_tms.calibration.calibration_sweep` output plus ``theory`` in attrs.
    """
    from bayes_tms import nuts_llc
    from sgd_tms.calibration import calibration_sweep, recommended_config

    n = check_positive_int("n", n, minimum=2)
    p = _phase(c, label)
    x = sample_inputs(n, c, seed)
    nbeta = LLCSettings().nbeta(n)
    ref, rse = {}, {}
    for i, g in enumerate(gammas):
        est = nuts_llc(p.W, p.b, x, gamma=float(g), seed=child_sequence(seed, "llc", "nuts", "gamma", i),
                       draws=nuts_draws, tune=nuts_draws)
        ref[float(g)], rse[float(g)] = est.llc, est.se
    kw = {k: v for k, v in (("chains", chains), ("draws", draws), ("burn_in", warmup)) if v is not None}
    ds = calibration_sweep(p.W, p.b, x, [s / nbeta for s in step_nbetas], gammas, reference=ref,
                           reference_se=rse, config=recommended_config(n, seed=seed, **kw), seed=seed)
    theory, kind = theory_llc(c, label)
    ds.attrs.update({"phase": label, "features": c, "theory": theory, "theory_kind": kind})
    return ds


def llc_tasks(c: int, labels: Sequence[str] | None, ns: Sequence[int], methods: Sequence[str] = METHODS,
              **kwargs) -> list:
    """One :class:`comparisons.sweep.Task` per phase x n x method (the rows of the table).

    Inputs are checked here, before any sampling; ``kwargs`` go to :func:`llc_estimate` and are
    part of each task's key.
    """
    from .sweep import Task

    labels, ns = _checked_grid(c, labels, ns, methods)
    return [Task(f"llc {lab} n={n} {m}", {"c": c, "label": lab, "n": n, "method": m, **kwargs},
                 seed=int(kwargs.get("seed", 0))) for lab in labels for n in ns for m in methods]


def llc_task(task) -> dict:
    """Run one task of :func:`llc_tasks`: one table row (module level, for any executor)."""
    cfg = dict(task.config)
    return llc_estimate(cfg.pop("c"), cfg.pop("label"), cfg.pop("n"), cfg.pop("method"), **cfg)
