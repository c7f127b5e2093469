"""How accurate are the LLC estimates? The job: NUTS and SGLD at enumerated phases across n.

Each row is one localised LLC estimate at a phase ``w*`` on the data set
``sample_inputs(n, c, seed)`` (prefix-stable: the data sets of a ladder of n are nested), with
its theory value, Gaussian prediction and regime from :mod:`comparisons.analysis.llc_accuracy`.
Both engines are imported lazily, inside the functions that run them: NUTS
(:func:`bayes_tms.nuts_llc`) samples the localised tempered posterior exactly; SGLD
(:func:`sgd_tms.calibration.sgld_point_llc`) with :func:`sgd_tms.calibration.recommended_config`
unless a step size is given.
"""

from __future__ import annotations

__all__ = ["run_llc_sweep", "run_calibration", "llc_estimate", "llc_table", "write_table", "calibration_table", "llc_tasks",
           "llc_task"]

import math
import time
from typing import Sequence

from ..analysis.llc_accuracy import (METHODS, checked_grid, phase_of, quadratic_llc, regime, rows_to_csv,
                                     theory_llc)
from ..errors import InputError, check_positive_int
from ..theory import LLCSettings, child_sequence, sample_inputs


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
        Sampler sizes (NUTS: default 4, 1000, 1000 warm-up; SGLD: the recommended 32, 8000,
        2000 warm-up; ``draws`` counts SGLD steps including the warm-up).
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
    p = phase_of(c, label)
    theory, kind = theory_llc(c, label)
    x = sample_inputs(n, c, seed)
    kw = _sizes(chains, draws, warmup)
    if method == "nuts":
        from bayes_tms import nuts_llc

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


def _sizes(chains: int | None, draws: int | None, warmup: int | None) -> dict:
    """The sampler sizes given (not None), as keywords of either sampler (both name them alike)."""
    return {k: v for k, v in (("chains", chains), ("draws", draws), ("warmup", warmup)) if v is not None}


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
    return {"backend": "torch", "chains": est.chains, "draws": est.draws, "warmup": est.warmup,
            "step_size": est.step_size, "mala_accept": est.accept, "escaped": est.escaped,
            "nonfinite": est.nonfinite, "below_start_fraction": est.below_fraction,
            "mean_distance": est.distance, "max_distance": est.max_distance}


#: numeric fields of an estimate (:func:`llc_estimate`) kept as diagnostics over ``case`` in the table
_TABLE_NUMBERS = ("theory", "rel_error", "quadratic", "gamma", "nbeta", "wall_s")


def llc_table(estimates: Sequence[dict]):
    """The ``llc`` hand-off (:data:`comparisons.contracts.LLC`) of a table of estimates.

    One ``case`` per estimate of :func:`llc_estimate` (a task of the sweep): ``estimate`` and ``se``
    over ``case`` with the coordinates ``phase``, ``n``, ``method`` (strings and integers) and
    ``beta`` (``nbeta / n``); the theory value, its kind, the relative error, the Gaussian
    prediction, ``gamma``, ``nbeta`` and the wall time as diagnostics over ``case`` (None as NaN).
    """
    import numpy as np
    import xarray as xr

    from ..contracts import validate_llc

    def column(key: str, kind=float) -> np.ndarray:
        return np.array([math.nan if e.get(key) is None else e[key] for e in estimates], dtype=kind)

    nbeta, n = column("nbeta"), column("n", np.int64)
    ds = xr.Dataset({"estimate": (("case",), column("llc")), "se": (("case",), column("se")),
                     **{k: (("case",), column(k)) for k in _TABLE_NUMBERS},
                     "theory_kind": (("case",), np.array([str(e.get("theory_kind", "")) for e in estimates], dtype=str))},
                    coords={"case": np.arange(len(estimates)), "phase": (("case",), column("phase", str)),
                            "n": (("case",), n), "method": (("case",), column("method", str)),
                            "beta": (("case",), nbeta / n)})
    return validate_llc(ds)


def write_table(rows: Sequence[dict], out_dir) -> tuple:
    """Write a table of estimates: ``llc.nc`` (:func:`llc_table`, the ``llc`` hand-off of
    :mod:`comparisons.contracts`) and its CSV export ``llc_table.csv`` (columns :data:`COLUMNS`);
    returns both paths."""
    from pathlib import Path

    from ..io import write_netcdf, write_text

    out = Path(out_dir)
    return (write_netcdf(llc_table(rows), out / "llc.nc"),
            write_text(out / "llc_table.csv", rows_to_csv(rows)))


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
    p = phase_of(c, label)
    x = sample_inputs(n, c, seed)
    nbeta = LLCSettings().nbeta(n)
    ref, rse = {}, {}
    for i, g in enumerate(gammas):
        est = nuts_llc(p.W, p.b, x, gamma=float(g), seed=child_sequence(seed, "llc", "nuts", "gamma", i),
                       draws=nuts_draws, warmup=nuts_draws)
        ref[float(g)], rse[float(g)] = est.llc, est.se
    ds = calibration_sweep(p.W, p.b, x, [s / nbeta for s in step_nbetas], gammas, reference=ref,
                           reference_se=rse, config=recommended_config(n, seed=seed, **_sizes(chains, draws, warmup)),
                           seed=seed)
    theory, kind = theory_llc(c, label)
    ds.attrs.update({"phase": label, "features": c, "theory": theory, "theory_kind": kind})
    return ds


def llc_tasks(c: int, labels: Sequence[str] | None, ns: Sequence[int], methods: Sequence[str] = METHODS,
              **kwargs) -> list:
    """One :class:`comparisons.sweep.Task` per phase x n x method (the rows of the table).

    Inputs are checked here, before any sampling; ``kwargs`` go to :func:`llc_estimate` and are
    part of each task's key.
    """
    from ..sweep import Task

    labels, ns = checked_grid(c, labels, ns, methods)
    return [Task(f"llc {lab} n={n} {m}", {"c": c, "label": lab, "n": n, "method": m, **kwargs})
            for lab in labels for n in ns for m in methods]


def llc_task(task) -> dict:
    """Run one task of :func:`llc_tasks`: one table row (module level, for any executor)."""
    cfg = dict(task.config)
    return llc_estimate(cfg.pop("c"), cfg.pop("label"), cfg.pop("n"), cfg.pop("method"), **cfg)


# -- the jobs: the accuracy table and the SGLD calibration, with their files -----------------------

#: the packages whose versions key a stored LLC task (a new version recomputes it)
LLC_VERSIONS = ("torch", "pymc", "pytensor", "numpy")


def run_llc_sweep(c: int, labels: Sequence[str] | None, ns: Sequence[int], methods: Sequence[str], out, *,
                  sampler: dict | None = None, sweep: dict | None = None, yes: bool = False) -> tuple[int, list]:
    """The accuracy table: one task per phase x n x method (:func:`llc_tasks`) on the sweep runner.

    Prints the cost estimate first (``--yes`` above one hour), then writes ``llc.nc``,
    ``llc_table.csv`` and ``llc_vs_n.png`` into ``out``, a folder this job owns
    (:func:`comparisons.folder.owned_folder`: another job's folder is refused, a second run into it
    too); stored tasks (``out/tasks``) are reused.
    ``sampler``: :func:`llc_estimate` keywords (part of each task's key); ``sweep``:
    :func:`comparisons.sweep.run_sweep` keywords. Returns ``(exit status, rows)``.
    """
    from ..analysis.llc_accuracy import plot_llc_vs_n
    from ..contracts import package_versions
    from ..cost import confirm, llc_seconds
    from ..folder import check_folder, owned_folder
    from ..sweep import ResultStore, run_sweep

    tasks = llc_tasks(c, labels, ns, methods, **(sampler or {}))
    check_folder(out, "llc")  # refused before the estimate, not after it
    confirm(llc_seconds(tasks), f"{len(tasks)} LLC estimates", yes)
    with owned_folder(out, "llc", sampler=",".join(dict.fromkeys(t.config["method"] for t in tasks)),
                      config=[t.to_json() for t in tasks]) as folder:
        res = run_sweep(tasks, llc_task, ResultStore(folder.root / "tasks", result_format=1,
                                                     versions=package_versions(*LLC_VERSIONS)),
                        desc="llc", **(sweep or {}))
        if not res.ok:
            return res.exit_status(), []
        rows = list(res.results)
        write_table(rows, folder.root)
        plot_llc_vs_n(rows, folder.root / "llc_vs_n.png")
        folder.finish()
    return 0, rows


def run_calibration(c: int, label: str, n: int, steps: Sequence[float], gammas: Sequence[float], out, *,
                    seed: int = 0, chains: int | None = None, draws: int | None = None,
                    warmup: int | None = None, yes: bool = False):
    """The SGLD step size x gamma calibration against NUTS (:func:`calibration_table`) into
    ``out/calibration.csv``, after its cost estimate, in a folder this job owns
    (:func:`comparisons.folder.owned_folder`); returns the file's path."""
    from ..cost import confirm, llc_seconds
    from ..folder import check_folder, owned_folder
    from ..io import write_text

    theory_llc(c, label)  # the label is checked before any sampling
    # NUTS reference per gamma (4 chains x 2000 + 2000 steps), SGLD per step x gamma
    tasks = [{"method": "nuts", "chains": 4, "draws": 2000, "warmup": 2000} for _ in gammas]
    tasks += [{"method": "sgld", "chains": chains, "draws": draws, "warmup": warmup} for _ in steps for _ in gammas]
    check_folder(out, "llc --calibrate")
    confirm(llc_seconds(tasks), f"the calibration of {len(steps)} steps x {len(gammas)} gammas against NUTS", yes)
    settings = {"c": int(c), "label": label, "n": int(n), "steps": list(steps), "gammas": list(gammas),
                "seed": int(seed), "chains": chains, "draws": draws, "warmup": warmup}
    with owned_folder(out, "llc --calibrate", sampler="sgld,nuts", config=settings) as folder:
        ds = calibration_table(c, label, n, steps, gammas, seed=seed, chains=chains, draws=draws, warmup=warmup)
        path = write_text(folder.root / "calibration.csv", ds.to_dataframe().to_csv())
        folder.finish()
    return path
