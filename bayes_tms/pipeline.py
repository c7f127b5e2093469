"""The whole Bayesian job: sweep, occupancy, transitions, diagnostics, figure, files."""

from __future__ import annotations

__all__ = ["run_bayes", "write_csv"]

import csv
import io
import math
import time
from pathlib import Path

from comparisons.io import check_writable_dir, save_figure, write_json, write_text
from comparisons.theory import dominant_intervals, enumerate_phases

from .config import BayesConfig
from .occupancy import diagnostics_table, occupancy_table, transitions
from .plots import plot_occupancy
from .reweight import reweighted_occupancy, rung_deltas
from .sampling import nested_data, run_sweep


def write_csv(path, rows, columns) -> Path:
    """Write ``rows`` (dicts) with ``columns`` to CSV atomically; NaN written as empty."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else
                        (f"{v:.6g}" if isinstance(v, float) else v)) for k, v in r.items()})
    return write_text(path, buf.getvalue())


def run_bayes(config: BayesConfig, out_dir, *, progress: bool = True, **sweep) -> dict:
    """Run the sweep and write every output into ``out_dir``.

    Files: ``posterior_nNNNNN.nc`` per ``n``, ``occupancy.csv`` (``n, phase, fraction, lower,
    upper, chains``: posterior mass by ladder bridge reweighting, :mod:`bayes_tms.reweight`),
    ``occupancy_family.csv`` (same, by k-gon family), ``occupancy_raw.csv`` (plain fractions of
    draws, biased where chains cannot cross between phases), ``log_mass.csv`` (log posterior
    mass per phase: minus the measured local free energy), ``transitions.json``
    (dominant-phase changes by phase and by family, each ``{"from", "to", "n", "lower", "upper",
    "predicted_n", ...}``), ``diagnostics.csv``, ``occupancy.png`` and ``config.json``.

    ``sweep`` keywords (``executor``, ``workers``, ``scheduler``, ``retries``) go to
    :func:`bayes_tms.sampling.run_sweep`.

    Returns
    -------
    dict
        ``{"wall_s", "compute_s", "rungs_cached", "rungs", "transitions", "divergences",
        "draws_total"}``: ``wall_s`` is this call's sampling time, ``compute_s`` the sampling time
        behind every rung (rungs reused from the store count with the time they took when they
        were computed). Both go to ``timing.json`` too.
    """
    out = check_writable_dir(out_dir)
    write_json(out / "config.json", {**config.to_dict(), "config_hash": config.hash()})
    t0 = time.perf_counter()
    timing: dict = {}
    posts = run_sweep(config, out, progress=progress, timing=timing, **sweep)
    wall = time.perf_counter() - t0
    cached = timing.get("cached", 0)
    write_json(out / "timing.json", {"wall_s": wall, "compute_s": timing.get("compute_s", wall),
                                     "rungs": len(config.ns), "rungs_cached": cached,
                                     "cached": cached > 0})
    # raw: fractions of draws (valid where chains mix); primary: ladder bridge reweighting,
    # which needs no mixing between phases (bayes_tms.reweight)
    raw, _ = occupancy_table(posts, B=config.bootstrap, seed=config.seed)
    x = nested_data(config)
    cols = ["n", "phase", "fraction", "lower", "upper", "chains"]
    deltas = rung_deltas(posts, x, config.beta)  # shared by both labelling levels
    rows, reps, logs = reweighted_occupancy(posts, x, beta=config.beta, B=config.bootstrap, seed=config.seed,
                                            deltas=deltas)
    frows, freps, _ = reweighted_occupancy(posts, x, beta=config.beta, B=config.bootstrap,
                                           seed=config.seed, level="family", deltas=deltas)
    write_csv(out / "occupancy.csv", rows, cols)
    write_csv(out / "occupancy_family.csv", frows, cols)
    write_csv(out / "occupancy_raw.csv", raw, cols)
    write_csv(out / "log_mass.csv", logs, ["n", "phase", "log_mass", "lower", "upper"])
    trans = (transitions(reps, features=config.features, prior_sigma=config.prior_sigma, beta=config.beta)
             + transitions(freps, features=config.features, level="family",
                           prior_sigma=config.prior_sigma, beta=config.beta))
    write_json(out / "transitions.json", trans)
    diag = diagnostics_table(posts)
    write_csv(out / "diagnostics.csv", diag,
              ["n", "phase", "chains", "draws", "divergences", "mean_tree_depth", "max_tree_depth",
               "switches", "rhat_loss", "ess_bulk_loss", "ess_tail_loss"])
    theory = []
    if config.hidden == 2:
        theory = dominant_intervals(enumerate_phases(config.features), n_min=min(config.ns) * 0.8,
                                    n_max=max(config.ns) * 1.25, prior_sigma=config.prior_sigma,
                                    beta=config.beta)
    refined = [{"from": t["from"], "to": t["to"], "n": t["predicted_n_laplace"]} for t in trans
               if t["level"] == "phase" and t.get("predicted_n_laplace")]
    fig = plot_occupancy(rows, features=config.features, theory=theory, raw=raw, refined=refined,
                         observed=[t for t in trans if t["level"] == "family"])
    save_figure(fig, out / "occupancy.png")
    div = sum(r["divergences"] for r in diag if r["phase"] == "all")
    return {"wall_s": wall, "compute_s": timing.get("compute_s", wall), "rungs_cached": cached,
            "rungs": len(config.ns), "transitions": trans, "divergences": div,
            "draws_total": len(config.ns) * config.chains * config.draws}
