"""The Bayesian job with replica exchange: one PT run per data set and convention, and the spread.

A *run* (:func:`run_pt`) samples the ladder of one data set at one inverse temperature with
:func:`bayes_tms.pt.sample_tms_pt`, checkpointing the sampler state so that an interrupted run
resumes, and writes

- ``posterior_nNNNNN.nc`` per requested ``n`` (with ``empirical_loss``, ``population_loss``,
  ``phase`` and ``phase_distance`` per draw; ``chain`` is the PT copy),
- ``pt_diagnostics.nc`` (swap acceptance per pair, round trips per copy, replica-index traces),
- ``occupancy.csv`` / ``occupancy_family.csv`` (``n, phase, fraction, lower, upper, chains``:
  draw fractions, valid because the replicas cross between phases, with 95% bootstrap intervals
  over copies), ``transitions.json`` (switches of the dominant phase with the free-energy
  predictions at the run's ``beta``), ``diagnostics.csv`` (per ``n``: R-hat and ESS of the loss
  across copies, HMC acceptance, swap acceptance to the next rung, round trips, ``mixed``) and
  ``occupancy.png``.

A *study* (:func:`run_pt_study`) repeats the run over ``datasets`` data sets for each named
convention (:data:`CONVENTIONS`) and, optionally, on the population loss (no data noise), and
writes ``switches.csv`` (one row per run and switch) and ``switch_summary.csv`` (per convention
and switch: mean, sd and each value over data sets, the population value and the predictions).
"""

from __future__ import annotations

__all__ = ["CONVENTIONS", "MIXED_RHAT", "MIN_ROUND_TRIPS", "PAPER_SWITCH", "PAPER_SWITCH_LABEL", "PT_PRESETS",
           "paper_switch_n", "mark_paper_switch", "plot_switches", "pt_seconds", "run_pt", "run_pt_study",
           "switch_summary"]

import dataclasses
import json
import sys
import time
from typing import Sequence

import numpy as np

from ..contracts import occupancy_dataset, table_dataset, transitions_dataset, validate_posterior
from ..errors import InputError, check_positive_int
from ..io import atomic_path, check_writable_dir, save_figure, write_csv, write_json, write_netcdf
from ..theory import child_seed, dominant_intervals, enumerate_phases, sample_inputs
from .paper_switch import PAPER_SWITCH, PAPER_SWITCH_LABEL, mark_paper_switch, paper_switch_n

#: named likelihood conventions -> beta: the theory's tempered posterior, and the Gaussian
#: observation model with sigma = 1 of the authors' public NUTS code (log-lik -|x - f|^2 / 2)
CONVENTIONS = {"tempered": 1.0, "gaussian-sigma1": 0.5}
#: a rung whose loss R-hat across copies exceeds this, or whose copies made fewer round trips
#: than MIN_ROUND_TRIPS on average, is flagged as not mixed
MIXED_RHAT = 1.05
MIN_ROUND_TRIPS = 5
STATE_FILE = "pt_state.npz"
DONE_FILE = "done.json"
OCC_COLUMNS = ["n", "phase", "fraction", "lower", "upper", "chains"]
DIAG_COLUMNS = ["n", "inserted", "copies", "draws", "rhat_loss", "ess_bulk_loss", "ess_tail_loss",
                "hmc_accept", "step_size", "swap_accept_next", "round_trips_mean", "round_trips_min",
                "mixed"]


def _diagnostics(posts: dict, diag) -> list[dict]:
    """Per requested ``n``: convergence of an invariant (the loss) and the PT mixing numbers."""
    import arviz as az

    ns = [int(v) for v in diag["rung"].values]
    trips = diag["round_trips"].values
    swap = diag["swap_accept"].values
    rows = []
    for n, idata in sorted(posts.items()):
        k = ns.index(n)
        post = idata.posterior
        name = "empirical_loss" if "empirical_loss" in post else "population_loss"
        loss = post[name].transpose("chain", "draw").values
        r = {"n": n, "inserted": bool(post.attrs.get("inserted", 0)), "copies": loss.shape[0],
             "draws": loss.shape[1], "rhat_loss": np.nan, "ess_bulk_loss": np.nan, "ess_tail_loss": np.nan,
             "hmc_accept": float(diag["hmc_accept"].values[k]), "step_size": float(diag["step_size"].values[k]),
             "swap_accept_next": float(swap[k]) if k < len(swap) else np.nan,
             "round_trips_mean": float(np.mean(trips)), "round_trips_min": int(np.min(trips))}
        if loss.shape[0] >= 2 and loss.shape[1] >= 4:
            with np.errstate(invalid="ignore", divide="ignore"):
                r["rhat_loss"] = float(az.rhat(loss))
                r["ess_bulk_loss"] = float(az.ess(loss, method="bulk"))
                r["ess_tail_loss"] = float(az.ess(loss, method="tail"))
        r["mixed"] = bool(np.isfinite(r["rhat_loss"]) and r["rhat_loss"] <= MIXED_RHAT
                          and r["round_trips_mean"] >= MIN_ROUND_TRIPS)
        rows.append(r)
    return rows


def _config_key(config) -> str:
    return json.dumps(config.to_dict(), sort_keys=True)


def _label_draws(posts: dict, config, x, rule: str) -> None:
    """Add the derived per-draw variables (``phase``, losses, ...) to every posterior, in place."""
    from bayes_tms.sampling import derived_draws

    key = _config_key(config)
    for n, idata in posts.items():
        post = idata.posterior
        W = post["W"].transpose("chain", "draw", "hidden", "feature").values
        b = post["b"].transpose("chain", "draw", "feature").values
        for name, value in derived_draws(W, b, None if x is None else x[:n], features=config.features,
                                         hidden=config.hidden, rule=rule).items():
            post[name] = (("chain", "draw"), value)
        post.attrs.update({"classifier": rule, "config": key})
        post.attrs.update({k: int(v) for k, v in post.attrs.items() if isinstance(v, (bool, np.bool_))})


def analyse_pt(config, posts: dict, diag, *, bootstrap: int = 1000) -> dict:
    """Occupancy (phases and families), switches and diagnostics of one labelled PT run.

    Returns
    -------
    dict
        ``occupancy``, ``occupancy_family`` (rows of ``occupancy.csv``), ``transitions`` (records
        of :func:`bayes_tms.occupancy.transitions`, phases then families), ``diagnostics`` (rows
        of ``diagnostics.csv``), ``mixed`` (every rung mixed).
    """
    from bayes_tms.occupancy import occupancy_table, transitions

    seed = child_seed(config.seed, "bayes", "bootstrap", "pt")
    raw, reps = occupancy_table(posts, B=bootstrap, seed=seed)
    fam, freps = occupancy_table(posts, B=bootstrap, seed=seed, level="family")
    trans = (transitions(reps, features=config.features, prior_sigma=config.prior_sigma, beta=config.beta)
             + transitions(freps, features=config.features, level="family", prior_sigma=config.prior_sigma,
                           beta=config.beta))
    diag_rows = _diagnostics(posts, diag)
    return {"occupancy": raw, "occupancy_family": fam, "transitions": trans, "diagnostics": diag_rows,
            "mixed": all(r["mixed"] for r in diag_rows)}


def _write_tables(out, config, tables: dict, rule: str) -> None:
    """Write the tables of :func:`analyse_pt` into a run folder (csv, json and netCDF hand-offs)."""
    raw, fam, trans, diag_rows = (tables[k] for k in ("occupancy", "occupancy_family", "transitions",
                                                       "diagnostics"))
    write_csv(out / "occupancy.csv", raw, OCC_COLUMNS)
    write_csv(out / "occupancy_family.csv", fam, OCC_COLUMNS)
    meta = {"features": config.features, "beta": config.beta, "prior_sigma": config.prior_sigma,
            "seed": config.seed, "population": int(config.population), "classifier": rule}
    write_netcdf(occupancy_dataset({"pt": raw}, attrs=meta), out / "occupancy.nc")
    write_netcdf(occupancy_dataset({"pt": fam}, level="family", attrs=meta), out / "occupancy_family.nc")
    write_json(out / "transitions.json", trans)
    write_netcdf(transitions_dataset(trans), out / "transitions.nc")
    write_csv(out / "diagnostics.csv", diag_rows, DIAG_COLUMNS)
    write_netcdf(table_dataset(diag_rows, DIAG_COLUMNS), out / "diagnostics.nc")


def run_pt(config, out_dir, *, rule: str = "gated", bootstrap: int = 1000, progress: bool = True,
           chunk: int = 50) -> dict:
    """Sample one PT ladder (``config``: :class:`bayes_tms.pt.PTConfig`) and write its outputs.

    Resumable: the sampler state is saved atomically every ``chunk`` sweeps to
    ``pt_state.npz``; the same call continues from it (bit-identical to an uninterrupted run).
    A finished folder (``done.json`` with the same configuration) is only re-analysed.

    Returns
    -------
    dict
        ``{"transitions", "diagnostics", "wall_s", "compute_s", "cached", "mixed"}``.
    """
    from bayes_tms.plots import plot_occupancy
    from bayes_tms.pt import PTConfig, load_state, resume_tms_pt, sample_tms_pt, save_state

    from .bayes import posterior_path

    if not isinstance(config, PTConfig):
        raise InputError(f"config: expected a PTConfig, got {type(config).__name__}")
    check_positive_int("bootstrap", bootstrap, minimum=10)
    out = check_writable_dir(out_dir)
    key = _config_key(config)
    done_path, state_path = out / DONE_FILE, out / STATE_FILE
    done = json.loads(done_path.read_text()) if done_path.exists() else None
    # the classifier labels the stored draws: another rule means another result
    cached = bool(done and done.get("config") == key and done.get("rule", "gated") == rule)
    x = None if config.population else sample_inputs(max(config.ns), config.features, config.seed)
    t0 = time.perf_counter()
    if not cached:
        write_json(out / "config.json", {**config.to_dict(), "rule": rule})

        def checkpoint(state):
            with atomic_path(state_path) as tmp:
                save_state(state, tmp)

        state = None
        if state_path.exists():
            state = load_state(state_path)
            if json.dumps(state.settings.get("meta", {}).get("config", {}), sort_keys=True) != key:
                state = None  # a state of another configuration: start afresh
        if state is not None:
            print(f"resuming PT from sweep {state.sweep} ({state_path})", file=sys.stderr)
            result = resume_tms_pt(state, x, progress=progress, callback=checkpoint, chunk=chunk)
        else:
            result = sample_tms_pt(config, x, progress=progress, callback=checkpoint, chunk=chunk)
        posts, diag = result.posteriors, result.diagnostics
        _label_draws(posts, config, x, rule)
        for n, idata in posts.items():
            write_netcdf(idata, posterior_path(out, n))
        write_netcdf(diag, out / "pt_diagnostics.nc")
        compute = time.perf_counter() - t0
        write_json(done_path, {"config": key, "rule": rule, "compute_s": compute})
        state_path.unlink(missing_ok=True)
    else:
        import xarray as xr

        posts = {int(n): validate_posterior(posterior_path(out, n)) for n in config.ns}
        with xr.open_dataset(out / "pt_diagnostics.nc", engine="h5netcdf") as ds:
            diag = ds.load()
        compute = float(done.get("compute_s", float("nan")))
    tables = analyse_pt(config, posts, diag, bootstrap=bootstrap)
    raw, trans, diag_rows = tables["occupancy"], tables["transitions"], tables["diagnostics"]
    _write_tables(out, config, tables, rule)
    theory = []
    if config.hidden == 2:
        theory = dominant_intervals(enumerate_phases(config.features), n_min=min(config.ns) * 0.8,
                                    n_max=max(config.ns) * 1.25, prior_sigma=config.prior_sigma, beta=config.beta)
    label = "population loss" if config.population else f"data set seed {config.seed}"
    fig = plot_occupancy(raw, features=config.features, theory=theory,
                         observed=[t for t in trans if t["level"] == "phase"],
                         title=f"PT occupancy, c = {config.features}, beta = {config.beta:g}, {label} "
                               f"({rule} classifier; 95% bootstrap over {config.copies} copies)")
    mark_paper_switch(fig.axes[0], paper_switch_n(config.features, config.prior_sigma), text=True)
    save_figure(fig, out / "occupancy.png")
    mixed = all(r["mixed"] for r in diag_rows)
    return {"transitions": trans, "diagnostics": diag_rows, "wall_s": time.perf_counter() - t0,
            "compute_s": compute, "cached": cached, "mixed": mixed}


def _phase_switches(trans: Sequence[dict]) -> list[dict]:
    return [t for t in trans if t.get("level") == "phase"]


def switch_summary(rows: Sequence[dict], datasets: int | None = None) -> list[dict]:
    """Per (convention, from, to): mean, sd and each value of the switch ``n`` over data sets.

    ``rows`` are the rows of ``switches.csv`` (``convention, beta, dataset, from, to, n, lower,
    upper, predicted_n, predicted_n_laplace, mixed``; ``dataset = "population"`` for the
    population loss). A data set contributes one value: its first (smallest-n) switch of that
    kind, so a posterior that switches back and forth is not counted twice. ``datasets`` is the
    number of data sets run per convention: the summary says how many of them switched
    (``datasets``) out of how many (``datasets_run``). The predictions are those made near the
    population-loss switch when there is one (else near the first data set's).
    """
    out = []
    keys = sorted({(r["convention"], r["from"], r["to"]) for r in rows})
    for conv, a, b in keys:
        sel = sorted((r for r in rows if (r["convention"], r["from"], r["to"]) == (conv, a, b)),
                     key=lambda r: float(r["n"]))
        first: dict[str, dict] = {}
        for r in sel:
            first.setdefault(str(r["dataset"]), r)
        data = [float(r["n"]) for d, r in sorted(first.items(), key=lambda kv: kv[0]) if d != "population"]
        pop = first.get("population")
        ref = pop or sel[0]
        out.append({"convention": conv, "beta": sel[0]["beta"], "from": a, "to": b,
                    "datasets": len(data), "datasets_run": datasets if datasets is not None else len(data),
                    "mean": float(np.mean(data)) if data else np.nan,
                    "sd": float(np.std(data, ddof=1)) if len(data) > 1 else np.nan,
                    "values": " ".join(f"{v:.0f}" for v in data),
                    "population": float(pop["n"]) if pop else np.nan,
                    "predicted_n": ref.get("predicted_n"), "predicted_n_laplace": ref.get("predicted_n_laplace"),
                    "all_mixed": all(bool(r["mixed"]) for r in sel)})
    return out


SWITCH_COLUMNS = ["convention", "beta", "dataset", "seed", "from", "to", "n", "lower", "upper", "predicted_n",
                  "predicted_n_laplace", "dominance", "mixed"]
SUMMARY_COLUMNS = ["convention", "beta", "from", "to", "datasets", "datasets_run", "mean", "sd", "values",
                   "population",
                   "predicted_n", "predicted_n_laplace", "all_mixed"]


def run_pt_study(config, out_dir, *, datasets: int = 8, conventions: Sequence[str] = ("tempered",),
                 population: bool = True, rule: str = "gated", bootstrap: int = 1000,
                 progress: bool = True) -> dict:
    """PT over ``datasets`` data sets per convention (plus the population loss), and the spread.

    Data set ``k`` of every convention is the same stream, seeded ``child_seed(config.seed,
    "bayes", "dataset", k)`` (its PT randomness comes from the same seed, see
    :class:`bayes_tms.pt.PTConfig`), so conventions are compared on the same data. Each run goes
    to ``out/<convention>/data<k>`` (or ``population``) and resumes there.

    Returns
    -------
    dict
        ``{"switches": rows of switches.csv, "summary": rows of switch_summary.csv, "compute_s":
        seconds of sampling behind them, "cached": whether every run was reused}``.
    """
    check_positive_int("datasets", datasets, minimum=1)
    unknown = [c for c in conventions if c not in CONVENTIONS]
    if unknown or not conventions:
        raise InputError(f"conventions: expected some of {', '.join(CONVENTIONS)}, got {list(conventions)}")
    out = check_writable_dir(out_dir)
    runs = []
    for conv in conventions:
        for k in range(datasets):
            runs.append((conv, str(k), dataclasses.replace(config, beta=CONVENTIONS[conv], population=False,
                                                           seed=child_seed(config.seed, "bayes", "dataset", k))))
        if population:
            runs.append((conv, "population", dataclasses.replace(config, beta=CONVENTIONS[conv], population=True)))
    rows, compute, cached = [], 0.0, True
    for i, (conv, ds, cfg) in enumerate(runs):
        folder = out / conv / ("population" if ds == "population" else f"data{int(ds):02d}")
        print(f"[{i + 1}/{len(runs)}] PT {conv} (beta = {cfg.beta:g}), "
              f"{'population loss' if ds == 'population' else f'data set {ds}'} -> {folder}", file=sys.stderr)
        res = run_pt(cfg, folder, rule=rule, bootstrap=bootstrap, progress=progress)
        compute += res["compute_s"]
        cached = cached and res["cached"]
        for t in _phase_switches(res["transitions"]):
            rows.append({"convention": conv, "beta": cfg.beta, "dataset": ds, "seed": cfg.seed, "from": t["from"],
                         "to": t["to"], "n": t["n"], "lower": t["lower"], "upper": t["upper"],
                         "predicted_n": t.get("predicted_n"), "predicted_n_laplace": t.get("predicted_n_laplace"),
                         "dominance": t.get("dominance", ""), "mixed": res["mixed"]})
    write_csv(out / "switches.csv", rows, SWITCH_COLUMNS)
    summary = switch_summary(rows, datasets=datasets)
    write_csv(out / "switch_summary.csv", summary, SUMMARY_COLUMNS)
    write_netcdf(table_dataset(summary, SUMMARY_COLUMNS, "switch_summary"), out / "switch_summary.nc")
    if rows:
        save_figure(plot_switches(rows, features=config.features, prior_sigma=config.prior_sigma),
                    out / "switches.png")
    return {"switches": rows, "summary": summary, "compute_s": compute, "cached": cached}


def plot_switches(rows: Sequence[dict], *, features: int | None = None, prior_sigma: float = 1.0):
    """Switch ``n`` per data set and convention (dots, with intervals), population value (star),
    the free-energy predictions (asymptotic: dashed; with O(1) terms: dotted) and, given
    ``features``, the paper's reported switch (:func:`mark_paper_switch`); log ``n``."""
    import matplotlib.pyplot as plt

    pairs = sorted({(r["from"], r["to"]) for r in rows})
    convs = sorted({r["convention"] for r in rows}, key=lambda c: -CONVENTIONS.get(c, 0))
    fig, axes = plt.subplots(1, len(convs), figsize=(4.5 * len(convs), 3.6), squeeze=False, sharey=True)
    for ax, conv in zip(axes[0], convs):
        for j, (a, b) in enumerate(pairs):
            sel = [r for r in rows if r["convention"] == conv and (r["from"], r["to"]) == (a, b)]
            data = [r for r in sel if r["dataset"] != "population"]
            y = j + np.linspace(-0.25, 0.25, max(len(data), 1))[:len(data)]
            for yy, r in zip(y, data):
                ax.plot([r["lower"], r["upper"]], [yy, yy], color="C0", lw=0.8, alpha=0.6)
                ax.plot(r["n"], yy, "o", color="C0" if r["mixed"] else "C3", ms=4)
            for r in sel:
                if r["dataset"] == "population":
                    ax.plot(r["n"], j, "*", color="k", ms=11, label="population loss" if j == 0 else None)
                for key, ls, name in (("predicted_n", "--", "asymptotic"), ("predicted_n_laplace", ":", "O(1) terms")):
                    if r.get(key):
                        ax.plot([r[key]] * 2, [j - 0.4, j + 0.4], color="C2", ls=ls, lw=1.2)
        if features is not None:
            mark_paper_switch(ax, paper_switch_n(features, prior_sigma), label=ax is axes[0, 0])
        ax.set_xscale("log")
        ax.set_yticks(range(len(pairs)), [f"{a} → {b}" for a, b in pairs])
        ax.set_xlabel("n (log scale)")
        ax.set_title(f"{conv} (beta = {CONVENTIONS.get(conv, float('nan')):g})", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].plot([], [], "o", color="C0", label="data set (95% interval)")
    axes[0, 0].plot([], [], "o", color="C3", label="data set, not mixed")
    axes[0, 0].plot([], [], "--", color="C2", label="free energy (asymptotic)")
    axes[0, 0].plot([], [], ":", color="C2", label="with O(1) terms")
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.suptitle("Switches of the dominant phase: one per data set, and the population loss", fontsize=10)
    fig.tight_layout()
    return fig


#: preset -> PTConfig fields. The ladders are the NUTS presets' (bayes_tms.config.PRESETS), so that
#: both estimators report the same n; the paper ladder starts lower (16, 32, 64), where the
#: posterior mixes freely. Paper: about 50 round trips per copy at c = 6.
PT_PRESETS = {"quick": dict(copies=8, sweeps=1000, warmup=300, thin=2),
              "paper": dict(copies=8, sweeps=6000, warmup=300, thin=4, extra_ns=(16, 32, 64))}
#: seconds per leapfrog step of one replica (numpy gradient of the exact one-hot loss), fitted to the
#: paper preset on 2 cores (`tms-phases bayes --preset paper --out DIR`: 74 s against 300 s at 2.5e-5)
PT_REPLICA_STEP_S = 6e-6


def pt_seconds(config, opts: dict | None = None) -> float:
    """Rough seconds of a PT job: replicas x (pilot + warm-up + kept sweeps) x mean leapfrog steps.

    Inserted rungs are guessed at half the requested ones again; a study multiplies by its runs.
    """
    replicas = config.copies * len(config.ns) * 1.5
    sweeps = config.warmup + config.sweeps + 2 * (config.pilot_warmup + config.pilot_sweeps)
    seconds = replicas * sweeps * 0.75 * config.leapfrog * PT_REPLICA_STEP_S
    opts = opts or {}
    if opts.get("datasets"):
        seconds *= len(opts.get("conventions", ("tempered",))) * (opts["datasets"] + bool(opts.get("population")))
    return seconds
