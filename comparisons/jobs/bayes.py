"""The NUTS Bayesian job: the ladder of rungs through the sweep runner, and its files.

Each rung (one ``n``) is one task of :func:`comparisons.sweep.run_sweep`, stored by a hash of
its settings; :func:`run_bayes` then computes the occupancy (ladder-bridge reweighting and raw
draw fractions), the transitions with the free-energy predictions at the run's beta, the
diagnostics and the figure, and writes them into the output folder. The engine
(:mod:`bayes_tms`) samples and returns labelled data; this module decides what is run and
where it is stored.
"""

from __future__ import annotations

__all__ = ["run_bayes", "run_sweep", "rung_tasks", "sample_rung", "validate_rung", "posterior_path",
           "RUNG_FORMAT"]

import functools
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bayes_tms.config import BayesConfig
from bayes_tms.occupancy import diagnostics_table, occupancy_table, transitions
from bayes_tms.plots import plot_occupancy
from bayes_tms.reweight import reweighted_occupancy, rung_deltas
from bayes_tms.cache import ModelCache
from bayes_tms.sampling import check_complete, check_posterior, nested_data, sample_posterior

from ..contracts import combine_occupancy, combine_transitions, level_switches, package_versions
from ..errors import InputError
from ..folder import keep, owned_folder
from ..io import atomic_path, save_figure, write_dataset_csv, write_dataset_json, write_json, write_netcdf
from ..theory import dominant_intervals, enumerate_phases, sample_inputs
from .paper_switch import mark_paper_switch, paper_switch_n
from .result import JobResult, recording


def run_bayes(config: BayesConfig, out_dir, *, progress: bool = True, replace: bool | None = None,
              **sweep) -> JobResult:
    """Run the sweep and write every output into ``out_dir``.

    The hand-offs (:mod:`comparisons.contracts`, read back by the report and the command
    line): ``posterior_nNNNNN.nc`` per ``n``, ``occupancy.nc`` (estimators ``nuts_bridge``, with
    ``log_mass``, and ``nuts_raw``), ``occupancy_family.nc``, ``transitions.nc`` and
    ``diagnostics.nc``. The same tables as CSV/JSON exports: ``occupancy.csv`` (``n, phase, fraction, lower,
    upper, chains``: posterior mass by ladder bridge reweighting, :mod:`bayes_tms.reweight`),
    ``occupancy_family.csv`` (same, by k-gon family), ``occupancy_raw.csv`` (plain fractions of
    draws, biased where chains cannot cross between phases), ``log_mass.csv`` (log posterior
    mass per phase: minus the measured local free energy), ``transitions.json``
    (dominant-phase changes by phase and by family, each ``{"from", "to", "n", "lower", "upper",
    "predicted_n", ...}``), ``diagnostics.csv``, ``occupancy.png`` and ``config.json``. Every draw
    is labelled by ``config.classifier`` (``gated`` or ``hull``), recorded in ``config.json`` and in
    the posteriors' ``attrs``.

    ``sweep`` keywords (``executor``, ``workers``, ``scheduler``, ``retries``) go to
    :func:`run_sweep`.

    Returns
    -------
    JobResult
        Its files, ``compute_s`` (the sampling time behind every rung: rungs reused from the store
        count with the time they took when they were computed; also in ``timing.json``), ``cached``
        (some rungs reused) and the ``summary`` ``{"wall_s" (this call's sampling time),
        "compute_s", "rungs_cached", "rungs", "transitions", "divergences", "draws_total"}``.

    The folder is owned by this job (:func:`comparisons.folder.owned_folder`; ``replace`` as there).
    """
    # the config's record and hash are read here, in one visit to the config (the rest of the job
    # reads fields only): benchmarks/trace_config.py counts how often the config changes file
    record = {**config.to_dict(), "config_hash": config.hash}
    with (recording("bayes --sampler nuts", out_dir) as rec,
          owned_folder(out_dir, "bayes --sampler nuts", sampler="nuts", config=config.hash,
                       replace=replace) as folder):
        write_json(folder.root / "config.json", record)
        res = _run_bayes(config, folder.root, progress=progress, **sweep)
        folder.finish()
    return rec.result(compute_s=res["compute_s"], cached=res["rungs_cached"] > 0, summary=res)


def _run_bayes(config: BayesConfig, out: Path, *, progress: bool, **sweep) -> dict:
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
    raw, _ = occupancy_table(posts, B=config.bootstrap, seed=config.seed, estimator="nuts_raw", sampler="nuts")
    x = nested_data(config)
    cols = ["n", "phase", "fraction", "lower", "upper", "chains"]
    deltas = rung_deltas(posts, x, config.beta)  # shared by both labelling levels
    occ, reps = reweighted_occupancy(posts, x, beta=config.beta, B=config.bootstrap, seed=config.seed,
                                     deltas=deltas)
    focc, freps = reweighted_occupancy(posts, x, beta=config.beta, B=config.bootstrap,
                                       seed=config.seed, level="family", deltas=deltas)
    write_dataset_csv(out / "occupancy.csv", occ, cols)
    write_dataset_csv(out / "occupancy_family.csv", focc, cols)
    write_dataset_csv(out / "occupancy_raw.csv", raw, cols)
    write_dataset_csv(out / "log_mass.csv", occ.rename(lower="fraction_lower", upper="fraction_upper",
                                                      log_mass_lower="lower", log_mass_upper="upper"),
                      ["n", "phase", "log_mass", "lower", "upper"])
    meta = {"features": config.features, "beta": config.beta, "prior_sigma": config.prior_sigma,
            "seed": config.seed, "classifier": config.classifier}
    write_netcdf(combine_occupancy([occ, raw], attrs=meta), out / "occupancy.nc")
    write_netcdf(focc.assign_attrs(meta), out / "occupancy_family.nc")
    trans = combine_transitions(
        [transitions(reps, features=config.features, prior_sigma=config.prior_sigma, beta=config.beta),
         transitions(freps, features=config.features, level="family", prior_sigma=config.prior_sigma,
                     beta=config.beta)], attrs={**meta, "sampler": "nuts", "estimator": "nuts_bridge"})
    write_dataset_json(out / "transitions.json", trans)
    write_netcdf(trans, out / "transitions.nc")
    diag = diagnostics_table(posts).assign_attrs(meta)
    write_dataset_csv(out / "diagnostics.csv", diag, DIAG_COLUMNS, present="n")
    write_netcdf(diag, out / "diagnostics.nc")
    theory = []
    if config.hidden == 2:
        theory = dominant_intervals(enumerate_phases(config.features), n_min=min(config.ns) * 0.8,
                                    n_max=max(config.ns) * 1.25, prior_sigma=config.prior_sigma,
                                    beta=config.beta)
    phase = level_switches(trans)
    refined = phase.isel(transition=np.isfinite(phase["predicted_n_laplace"].values))
    fig = plot_occupancy(occ, features=config.features, theory=theory, raw=raw,
                         refined=refined.assign(n=refined["predicted_n_laplace"]),
                         observed=level_switches(trans, "family"),
                         title=f"NUTS posterior phase occupancy, c = {config.features}, beta = {config.beta:g} "
                               f"({config.classifier} classifier; 95% bootstrap over chains)")
    mark_paper_switch(fig.axes[0], paper_switch_n(config.features, config.prior_sigma), text=True)
    save_figure(fig, out / "occupancy.png")
    div = int(diag["divergences"].where(diag["phase"] == "all", 0).sum())
    return {"wall_s": wall, "compute_s": timing.get("compute_s", wall), "rungs_cached": cached,
            "rungs": len(config.ns), "transitions": trans, "divergences": div,
            "draws_total": len(config.ns) * config.chains * config.draws}


#: columns of ``diagnostics.csv`` (and variables of ``diagnostics.nc``)
DIAG_COLUMNS = ["n", "phase", "chains", "draws", "divergences", "mean_tree_depth", "max_tree_depth",
                "switches", "rhat_loss", "ess_bulk_loss", "ess_tail_loss"]


def posterior_path(out_dir, n: int) -> Path:
    """The file of the posterior at ``n`` in a Bayesian output folder: ``posterior_nNNNNN.nc``."""
    return Path(out_dir) / f"posterior_n{int(n):05d}.nc"


#: format of a rung's stored result; bump when what :func:`sample_rung` returns changes
RUNG_FORMAT = 1
#: the packages whose versions key a stored rung (a new version recomputes it)
RUNG_VERSIONS = ("pymc", "pytensor", "nutpie", "numpy")
_WORKER_CACHE = ModelCache("bayes rungs")  # compiled models reused by the rungs a worker samples


def rung_tasks(config: BayesConfig) -> list:
    """One :class:`comparisons.sweep.Task` per ``n`` of the ladder (keyed by the draws' settings)."""
    from ..sweep import Task

    base = config.posterior_dict()
    return [Task(f"bayes n={n}", {**base, "n": int(n)}) for n in config.ns]


def sample_rung(task, cores: int = 2):
    """Sample the posterior of one rung; the module-level task function of :func:`run_sweep`.

    ``cores`` (parallel chains) does not change the draws, so it is not part of the task's key.
    Returns the InferenceData as an ``xarray.DataTree`` (the results store writes it as netCDF).
    """
    cfg = dict(task.config)
    n = cfg.pop("n")
    config = BayesConfig(**cfg, ns=(n,), cores=cores)
    x = sample_inputs(n, config.features, config.seed)  # prefix-stable: the first n rows of the stream
    return sample_posterior(x, config, progress=False, cache=_WORKER_CACHE).to_datatree()


def validate_rung(task, tree) -> None:
    """Task validator of the bayes sweep: a stored rung must hold every chain's finite draws.

    Raises :class:`SamplingIncomplete` naming the rung's ``n`` otherwise, so the sweep runner
    never stores such a result and recomputes one found in the store.
    """
    import arviz as az

    idata = tree if hasattr(tree, "posterior") else az.InferenceData.from_datatree(tree)
    cfg = task.config
    check_complete(idata, chains=int(cfg["chains"]), draws=int(cfg["draws"]), n=int(cfg["n"]))


def run_sweep(config: BayesConfig, out_dir, *, progress: bool = True, executor: str = "inline",
              workers: int | None = None, scheduler=None, retries: int = 2,
              timing: dict | None = None) -> dict[int, Any]:
    """Sample every ``n`` of ``config.ns`` through the sweep runner; write ``posterior_nNNNNN.nc``.

    Each rung is one task of :func:`comparisons.sweep.run_sweep`, stored under ``out_dir/tasks``
    by a hash of its settings and the sampler versions, written atomically. A re-run skips every
    intact rung, recomputes missing or corrupt ones, and gives the same draws (the seed rule
    depends on ``n`` only). ``posterior_nNNNNN.nc`` are hard links to the stored results (copies
    where links are impossible). The default executor is in-process: the NUTS back-ends already
    run chains in parallel. Returns ``{n: idata}``; raises InputError naming the failed rungs.

    ``posterior_nNNNNN.nc`` files of ``n`` outside this ladder (left by an earlier run with a
    longer ``--n``) are taken out of the folder so that it describes this ladder only; no draws
    are lost: a file that is a link to a stored result is unlinked (the result stays in
    ``out_dir/tasks`` and a re-run with that ``n`` reuses it), any other is moved to
    ``out_dir/unused/``. ``timing`` (a dict), if given, receives ``compute_s`` (seconds of
    sampling behind every rung, reused ones included, from the store), ``computed`` and
    ``cached`` (rung counts).
    """
    import shutil

    import arviz as az

    from ..sweep import ResultStore
    from ..sweep import run_sweep as sweep

    out_dir = Path(out_dir)
    store = ResultStore(out_dir / "tasks", result_format=RUNG_FORMAT, versions=package_versions(*RUNG_VERSIONS))
    tasks = rung_tasks(config)
    todo = sum(not store.is_intact(t) for t in tasks)
    if progress and todo:
        print(f"sampling {todo} of {len(tasks)} rungs with {config.backend}; the first one also compiles the "
              "model (about half a minute, once per process)", file=sys.stderr)
    res = sweep(tasks, functools.partial(sample_rung, cores=config.cores), store, executor=executor, workers=workers,
                scheduler=scheduler, retries=retries, progress=progress, desc="bayes sweep",
                validate=validate_rung)
    if timing is not None:
        timing.update(compute_s=res.total_compute_s, computed=len(res.computed), cached=len(res.reused))
    if not res.ok:
        res.exit_status()
        raise InputError(f"bayes sweep: {len(res.failures)} of {len(res.tasks)} rungs failed "
                         f"(first: {res.failures[0].error}); finished rungs are kept, re-run to resume")
    results: dict[int, Any] = {}
    for n, tree, src in zip(config.ns, res.results, res.paths):
        dst = posterior_path(out_dir, n)
        keep(dst)  # a link to the stored rung: an output of this run even when it is not rewritten
        if not (dst.exists() and os.path.samefile(src, dst)):
            with atomic_path(dst) as tmp:
                tmp.unlink()
                try:
                    os.link(src, tmp)
                except OSError:
                    shutil.copyfile(src, tmp)
        results[n] = check_posterior(az.InferenceData.from_datatree(tree), config, n)
    _set_aside_stale(out_dir, config.ns, store)
    return results


def _set_aside_stale(out_dir: Path, ns, store) -> list[Path]:
    """Take ``posterior_n*.nc`` of rungs outside ``ns`` out of ``out_dir`` (see :func:`run_sweep`)."""
    import re

    keep = {posterior_path(out_dir, n).name for n in ns}
    stored = list(store.results_dir.glob("*.nc"))
    moved = []
    for path in sorted(Path(out_dir).glob("posterior_n*.nc")):
        if path.name in keep or not re.fullmatch(r"posterior_n\d+\.nc", path.name):
            continue
        if any(os.path.samefile(path, s) for s in stored):
            path.unlink()
        else:
            dst = Path(out_dir) / "unused" / path.name
            dst.parent.mkdir(exist_ok=True)
            os.replace(path, dst)
        moved.append(path)
    if moved:
        print(f"note: {len(moved)} posterior file(s) of n outside this ladder "
              f"({', '.join(p.name for p in moved)}) taken out of {out_dir}; their draws stay in "
              f"{store.results_dir.parent} (add the n back to --n to restore them)", file=sys.stderr)
    return moved
