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
convention (:data:`CONVENTIONS`) and, optionally, on the population loss (no data noise). Each
run is one task of the sweep runner (:mod:`comparisons.sweep`: content-addressed, stored
atomically in ``out/tasks``, resumed after a kill, retried; in-process, on a process pool or on
Dask) and is *refined*: re-run with rungs inserted around every switch of the leading phase until
the switch is bracketed within 2% of its ``n`` (:func:`study_task`). The study writes
``switches.csv`` (one row per run and switch, every crossing of a repeated switch included),
``switch_summary.csv`` (per convention and switch: mean, median and sd over data sets with
bootstrap intervals, the share of data sets whose switch is not a single crossing, the
population value and the predictions) and ``switches.png`` (the empirical distribution).
"""

from __future__ import annotations

__all__ = ["CONVENTIONS", "MIXED_RHAT", "MIN_ROUND_TRIPS", "PAPER_SWITCH", "PAPER_SWITCH_LABEL",
           "SwitchStudyConfig",
           "analyse_pt", "paper_switch_n", "mark_paper_switch", "plot_switches", "run_pt",
           "run_pt_study", "study_task", "study_tasks", "switch_summary"]

import dataclasses
import json
import sys
import time
from typing import Sequence

import numpy as np

from ..contracts import (combine_transitions, level_switches, package_versions, validate_diagnostics,
                         validate_posterior, validate_switch_summary)
from ..errors import InputError, check_positive_int
from ..folder import keep, owned_folder
from ..io import (atomic_path, check_writable_dir, save_figure, write_csv, write_dataset_csv, write_dataset_json,
                  write_json, write_netcdf)
from ..theory import child_seed, dominant_intervals, enumerate_phases, sample_inputs
from .paper_switch import PAPER_SWITCH, PAPER_SWITCH_LABEL, mark_paper_switch, paper_switch_n
from .result import JobResult, recording

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


def _diagnostics(posts: dict, diag):
    """Per requested ``n``: convergence of an invariant (the loss) and the PT mixing numbers.

    Returns the diagnostics hand-off (:data:`comparisons.contracts.DIAGNOSTICS`): the columns of
    :data:`DIAG_COLUMNS` over ``row``, one per ``n``, attrs ``sampler = "pt"``.
    """
    import arviz as az
    import xarray as xr

    ns = [int(v) for v in diag["rung"].values]
    trips = diag["round_trips"].values
    swap = diag["swap_accept"].values
    cols: dict[str, list] = {k: [] for k in DIAG_COLUMNS}
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
        for k in DIAG_COLUMNS:
            cols[k].append(r[k])
    kinds = {"n": np.int64, "copies": np.int64, "draws": np.int64, "round_trips_min": np.int64, "inserted": bool,
             "mixed": bool}
    return validate_diagnostics(xr.Dataset({k: (("row",), np.array(v, dtype=kinds.get(k, float)))
                                            for k, v in cols.items()},
                                           coords={"row": np.arange(len(cols["n"]))}, attrs={"sampler": "pt"}))


def _mark_run(posts: dict, key: str) -> None:
    """Record the run's key (:meth:`bayes_tms.pt.PTConfig.draws_key`) in every posterior's attrs
    (the engine labelled the draws and recorded the classifier), in place."""
    for idata in posts.values():
        post = idata.posterior
        post.attrs["config"] = key
        post.attrs.update({k: int(v) for k, v in post.attrs.items() if isinstance(v, (bool, np.bool_))})


def analyse_pt(config, posts: dict, diag) -> dict:
    """Occupancy (phases and families), switches and diagnostics of one labelled PT run.

    Returns
    -------
    dict
        ``occupancy``, ``occupancy_family`` (occupancy hand-offs, estimator ``pt``), ``transitions`` (the
        transitions hand-off of :func:`bayes_tms.occupancy.transitions`, phases then families),
        ``diagnostics`` (the diagnostics hand-off, :func:`_diagnostics`), ``mixed`` (every rung
        mixed). The hand-offs carry the run's ``features, beta, prior_sigma, seed, population,
        classifier`` and ``sampler = "pt"`` in their attrs.
    """
    from bayes_tms.occupancy import occupancy_table, transitions

    seed = child_seed(config.seed, "bayes", "bootstrap", "pt")
    raw, reps = occupancy_table(posts, B=config.bootstrap, seed=seed, estimator="pt", sampler="pt")
    fam, freps = occupancy_table(posts, B=config.bootstrap, seed=seed, level="family", estimator="pt", sampler="pt")
    meta = _meta(config)
    trans = combine_transitions(
        [transitions(reps, features=config.features, prior_sigma=config.prior_sigma, beta=config.beta),
         transitions(freps, features=config.features, level="family", prior_sigma=config.prior_sigma,
                     beta=config.beta)], attrs={**meta, "sampler": "pt", "estimator": "pt"})
    diagnostics = _diagnostics(posts, diag).assign_attrs(meta)
    return {"occupancy": raw, "occupancy_family": fam, "transitions": trans, "diagnostics": diagnostics,
            "mixed": bool(diagnostics["mixed"].all())}


def _meta(config) -> dict:
    """The attrs of a PT run's hand-offs: what its data, posterior and labels were."""
    return {"features": config.features, "beta": config.beta, "prior_sigma": config.prior_sigma,
            "seed": config.seed, "population": int(config.population), "classifier": config.classifier}


def _write_tables(out, config, tables: dict) -> None:
    """Write the tables of :func:`analyse_pt` into a run folder (csv, json and netCDF hand-offs)."""
    raw, fam, trans, diag = (tables[k] for k in ("occupancy", "occupancy_family", "transitions", "diagnostics"))
    write_dataset_csv(out / "occupancy.csv", raw, OCC_COLUMNS)
    write_dataset_csv(out / "occupancy_family.csv", fam, OCC_COLUMNS)
    meta = _meta(config)
    write_netcdf(raw.assign_attrs(meta), out / "occupancy.nc")
    write_netcdf(fam.assign_attrs(meta), out / "occupancy_family.nc")
    write_dataset_json(out / "transitions.json", trans)
    write_netcdf(trans, out / "transitions.nc")
    write_dataset_csv(out / "diagnostics.csv", diag, DIAG_COLUMNS, present="n")
    write_netcdf(diag, out / "diagnostics.nc")


def run_pt(config, out_dir, *, progress: bool = True, chunk: int = 1000, replace: bool | None = None) -> JobResult:
    """Sample one PT ladder (``config``: :class:`bayes_tms.pt.PTConfig`) and write its outputs.

    Resumable: the sampler state is saved atomically every ``chunk`` sweeps to
    ``pt_state.npz``; the same call continues from it (bit-identical to an uninterrupted run).
    Each checkpoint rewrites every draw so far, so their total cost grows with the square of the
    run's length: 1000 sweeps (a few seconds of sampling at the paper preset) keep it to a few
    checkpoints per run (every 50 sweeps, it was a tenth of a paper run's time).
    A finished folder (``done.json`` with the same configuration) is only re-analysed, once every
    stored posterior has been validated; one that fails (missing, truncated, non-finite, written by
    another run) is named in a warning and the run is recomputed. The folder is owned by this job
    (:func:`comparisons.folder.owned_folder`; ``replace`` as there).

    Returns
    -------
    JobResult
        Its files (``timing.json`` among them: ``compute_s``, ``cached``), ``compute_s``, ``cached``
        and the ``summary`` ``{"transitions", "diagnostics", "wall_s", "compute_s", "cached", "mixed"}``.
    """
    from bayes_tms.pt import PTConfig

    if not isinstance(config, PTConfig):
        raise InputError(f"config: expected a PTConfig, got {type(config).__name__}")
    with (recording("bayes --sampler pt", out_dir) as rec,
          owned_folder(out_dir, "bayes --sampler pt", sampler="pt", config={"config": config.to_dict()},
                       replace=replace) as folder):
        res = _run_pt(config, folder.root, progress=progress, chunk=chunk)
        write_json(folder.root / "timing.json", {"compute_s": res["compute_s"], "cached": res["cached"]})
        folder.finish()
    return rec.result(compute_s=res["compute_s"], cached=res["cached"], summary=res)


def _stored_run(out, config, key: str):
    """``(posteriors, pt_diagnostics)`` of a finished PT run in ``out``, each file validated.

    A posterior must pass :func:`comparisons.contracts.validate_posterior` and
    :func:`bayes_tms.sampling.check_complete` (every copy's draws present and finite) and carry
    this run's configuration and classifier in its attrs. Raises InputError naming the first
    file that fails.
    """
    import xarray as xr

    from bayes_tms.sampling import check_complete

    from .bayes import posterior_path

    posts = {}
    for n in config.ns:
        path = posterior_path(out, n)
        idata = validate_posterior(path)
        post = idata.posterior
        if post.attrs.get("config") != key or post.attrs.get("classifier") != config.classifier:
            raise InputError(f"{path}: expected draws of this PT run (its configuration and the {config.classifier} "
                             f"classifier), got those of another run")
        try:  # every copy present, the same number of draws in each, all of them finite
            check_complete(idata, chains=config.copies, draws=max(int(post.sizes.get("draw", 0)), 1), n=n)
        except Exception as exc:
            raise InputError(f"{path}: {exc}") from None
        posts[int(n)] = idata
    path = out / "pt_diagnostics.nc"
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            diag = ds.load()
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: expected a readable netCDF file ({str(exc).splitlines()[0]})") from None
    return posts, diag


def _state_key(state) -> str | None:
    """The :meth:`~bayes_tms.pt.PTConfig.draws_key` of the run a saved PT state belongs to (None
    when its metadata holds no readable configuration)."""
    from bayes_tms.pt import PTConfig

    cfg = dict(state.settings.get("meta", {}).get("config", {}))
    try:
        return PTConfig(**{**cfg, "ns": tuple(cfg.get("ns", ()))}).draws_key()
    except (InputError, TypeError):
        return None


def _read_done(path) -> dict | None:
    """The ``done.json`` marker of a PT run (None if absent; a damaged one is removed)."""
    if not path.exists():
        return None
    try:
        done = json.loads(path.read_text())
        if isinstance(done, dict):
            return done
    except (OSError, ValueError):
        pass
    print(f"warning: {path} is damaged; recomputing the PT run", file=sys.stderr)
    path.unlink(missing_ok=True)
    return None


def _run_pt(config, out, *, progress: bool, chunk: int) -> dict:
    from bayes_tms.plots import plot_occupancy
    from bayes_tms.pt import load_state, resume_tms_pt, sample_tms_pt, save_state

    from .bayes import posterior_path

    key = config.draws_key()
    done_path, state_path = out / DONE_FILE, out / STATE_FILE
    done = _read_done(done_path)
    # the key holds the classifier too: the stored draws are labelled by it
    cached = bool(done and done.get("config") == key)
    if cached:  # every file done.json vouches for is checked before it is served
        try:
            stored = _stored_run(out, config, key)
        except InputError as exc:
            print(f"warning: {exc}; recomputing the PT run", file=sys.stderr)
            cached = False
    x = None if config.population else sample_inputs(max(config.ns), config.features, config.seed)
    t0 = time.perf_counter()
    if not cached:
        done_path.unlink(missing_ok=True)  # the marker never outlives the files it vouches for
        write_json(out / "config.json", config.to_dict())

        def checkpoint(state):
            with atomic_path(state_path) as tmp:
                save_state(state, tmp)

        state = None
        if state_path.exists():
            try:
                state = load_state(state_path)
            except Exception as exc:  # a damaged checkpoint never blocks a rerun
                print(f"warning: {state_path} is damaged ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                      "starting the PT run afresh", file=sys.stderr)
            if state is not None and _state_key(state) != key:
                state = None  # a state of another configuration: start afresh
        if state is not None:
            print(f"resuming PT from sweep {state.sweep} ({state_path})", file=sys.stderr)
            result = resume_tms_pt(x, state, progress=progress, callback=checkpoint, chunk=chunk)
        else:
            result = sample_tms_pt(x, config, progress=progress, callback=checkpoint, chunk=chunk)
        posts, diag = result.posteriors, result.diagnostics
        _mark_run(posts, key)
        for n, idata in posts.items():
            write_netcdf(idata, posterior_path(out, n))
        write_netcdf(diag, out / "pt_diagnostics.nc")
        compute = time.perf_counter() - t0
        write_json(done_path, {"config": key, "compute_s": compute})
        state_path.unlink(missing_ok=True)
    else:
        posts, diag = stored
        compute = float(done.get("compute_s", float("nan")))
        for path in [posterior_path(out, n) for n in config.ns] + [out / "pt_diagnostics.nc", done_path,
                                                                   out / "config.json"]:
            keep(path)  # served from the earlier run: outputs of this one
    tables = analyse_pt(config, posts, diag)
    raw, trans = tables["occupancy"], tables["transitions"]
    _write_tables(out, config, tables)
    theory = []
    if config.hidden == 2:
        theory = dominant_intervals(enumerate_phases(config.features), n_min=min(config.ns) * 0.8,
                                    n_max=max(config.ns) * 1.25, prior_sigma=config.prior_sigma, beta=config.beta)
    label = "population loss" if config.population else f"data set seed {config.seed}"
    fig = plot_occupancy(raw, features=config.features, theory=theory,
                         observed=level_switches(trans),
                         title=f"PT occupancy, c = {config.features}, beta = {config.beta:g}, {label} "
                               f"({config.classifier} classifier; 95% bootstrap over {config.copies} copies)")
    mark_paper_switch(fig.axes[0], paper_switch_n(config.features, config.prior_sigma), text=True)
    save_figure(fig, out / "occupancy.png")
    return {"transitions": trans, "diagnostics": tables["diagnostics"], "wall_s": time.perf_counter() - t0,
            "compute_s": compute, "cached": cached, "mixed": tables["mixed"]}


#: format of a study task's stored result; bump when what :func:`study_task` returns changes
#: (3: the transitions and diagnostics are hand-off Datasets)
STUDY_FORMAT = 3
#: switch refinement of a study run: bracket every switch within this fraction of its n ...
REFINE_TOL = 0.02
#: ... in at most this many re-runs, inserting at most REFINE_INSERT rungs per bracket each
REFINE_ROUNDS = 3
REFINE_INSERT = 4
#: the summary lists every value up to this many data sets, else quantiles (switches.csv has all)
VALUES_LISTED = 16


def _names(text: str) -> tuple[str, ...]:
    """``"tempered, gaussian-sigma1"`` -> ``("tempered", "gaussian-sigma1")``, each once."""
    return tuple(dict.fromkeys(v for v in str(text).replace(" ", "").split(",") if v))


@dataclasses.dataclass(frozen=True)
class SwitchStudyConfig:
    """The switch study over data sets (:func:`run_pt_study`), beside the PT config of its runs.

    Attributes
    ----------
    datasets : int
        Data sets per convention, ``>= 1``; data set ``k`` is seeded
        ``child_seed(seed, "bayes", "dataset", k)``, the same in every convention.
    conventions : tuple of str
        Likelihood conventions (:data:`CONVENTIONS`), each naming its beta.
    population : bool
        Add one run on the population loss (no data noise) per convention.
    refine_tol : float
        Re-run each ladder with rungs inserted around every switch of the leading phase until it
        is bracketed within this fraction of its ``n``, in ``[0, 1)`` (0: no refinement).
    refine_rounds : int
        At most this many refinement re-runs per run, ``>= 0``.
    """

    datasets: int = dataclasses.field(default=8, metadata={
        "help": "repeat over D data sets (seeds from the root seed) and write switches.csv; default: one run "
                "on the data of --seed", "metavar": "D"})
    conventions: tuple[str, ...] = dataclasses.field(default=("tempered",), metadata={
        "help": "with --datasets: comma-separated likelihood conventions, tempered (beta 1) and/or "
                "gaussian-sigma1 (beta 1/2; the paper's code); default: tempered", "metavar": "NAMES",
        "parse": _names})
    population: bool = True
    refine_tol: float = dataclasses.field(default=REFINE_TOL, metadata={
        "help": "with --datasets: re-run each ladder with rungs inserted around every switch of the leading "
                f"phase until it is bracketed within F of its n (default: {REFINE_TOL:g}; 0: no refinement)",
        "metavar": "F"})
    refine_rounds: int = dataclasses.field(default=REFINE_ROUNDS, metadata={
        "help": f"with --datasets: at most R refinement re-runs per run (default: {REFINE_ROUNDS})",
        "metavar": "R"})

    def __post_init__(self) -> None:
        from ..errors import check_field_types

        if isinstance(self.conventions, (list, str)):
            object.__setattr__(self, "conventions", _names(",".join(self.conventions)
                                                           if isinstance(self.conventions, list) else self.conventions))
        check_field_types(self)
        check_positive_int("datasets", self.datasets, minimum=1)
        unknown = [c for c in self.conventions if c not in CONVENTIONS]
        if unknown or not self.conventions:
            raise InputError(f"conventions: expected some of {', '.join(CONVENTIONS)}, got {list(self.conventions)}")
        if not 0 <= self.refine_tol < 1:
            raise InputError(f"refine_tol: expected a number in [0, 1), got {self.refine_tol!r}")
        check_positive_int("refine_rounds", self.refine_rounds, minimum=0)

    def runs(self) -> int:
        """PT runs of the study: per convention, the data sets and the population run."""
        return len(self.conventions) * (self.datasets + bool(self.population))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["conventions"] = list(self.conventions)
        return d


def study_tasks(config, study: SwitchStudyConfig) -> list:
    """One :class:`comparisons.sweep.Task` per (convention, data set) run and per population run.

    Content-addressed by everything that sets the result: the full PT configuration (with the
    convention's beta and the data set's seed; its classifier and bootstrap size) and the
    refinement. Data set ``k`` is seeded ``child_seed(config.seed, "bayes", "dataset", k)`` in
    every convention, so conventions are compared on the same data.
    """
    from ..sweep import Task

    refining = study.refine_tol > 0
    tasks = []
    for conv in study.conventions:
        runs = [(str(k), dataclasses.replace(config, beta=CONVENTIONS[conv], population=False,
                                             seed=child_seed(config.seed, "bayes", "dataset", k)))
                for k in range(study.datasets)]
        if study.population:
            runs.append(("population", dataclasses.replace(config, beta=CONVENTIONS[conv], population=True)))
        for ds, cfg in runs:
            name = f"pt {conv} {'population' if ds == 'population' else f'data{int(ds):02d}'}"
            tasks.append(Task(name, {"convention": conv, "dataset": ds, "pt": cfg.to_dict(),
                                     "refine_tol": float(study.refine_tol) if refining else 0.0,
                                     "refine_rounds": int(study.refine_rounds) if refining else 0,
                                     "refine_insert": REFINE_INSERT}))
    return tasks


def study_task(task) -> dict:
    """Run one study task: PT, refined around every switch, and its tables (module level, picklable).

    The ladder is re-run with rungs inserted around every switch of the leading (classified
    plurality) phase, the switches of ``switches.csv``, until each is bracketed within
    ``refine_tol`` of its ``n`` (:func:`bayes_tms.occupancy.refine_switches`);
    switches, intervals and occupancy come from the last run, whose copies sample the inserted
    rungs. Everything random comes from the task's PT seed and BLAS runs on one thread, so the
    result does not depend on the executor or worker.

    Returns
    -------
    dict
        The tables of :func:`analyse_pt` of the last run (its transitions with ``resolved``: a
        phase switch bracketed within ``refine_tol``; False for families, which are not refined),
        plus ``refinement`` (per round: ladder, switches, inserted rungs), ``ladder`` and
        ``compute_s``.
    """
    from bayes_tms.occupancy import refine_switches
    from bayes_tms.pt import PTConfig, sample_tms_pt

    cfg = dict(task.config["pt"])
    cfg["ns"] = tuple(cfg["ns"])
    base = PTConfig(**cfg)
    x = None if base.population else sample_inputs(max(base.ns), base.features, base.seed)
    t0 = time.perf_counter()

    def sample(ns):
        config = dataclasses.replace(base, ns=tuple(ns))
        res = sample_tms_pt(x, config, progress=False)
        return config, analyse_pt(config, res.posteriors, res.diagnostics)

    tol = float(task.config["refine_tol"])
    from threadpoolctl import threadpool_limits

    from bayes_tms.pt_kernel import serial

    # one BLAS thread and the PT kernel's serial loop in every executor: N workers use N cores
    # without oversubscription, and the floating-point reductions are the same whichever process
    # (and thread setting) runs the task
    with threadpool_limits(limits=1), serial():
        (config, tables), _, history = refine_switches(
            sample, base.ns, lambda r: level_switches(r[1]["transitions"]), tol=tol,
            max_rounds=int(task.config["refine_rounds"]), max_insert=int(task.config["refine_insert"]))
    trans = tables["transitions"]  # resolved: a phase switch bracketed within tol (families are not refined)
    resolved = (trans["level"] == "phase") & (trans["n_after"] - trans["n_before"] <= np.maximum(tol * trans["n"], 1))
    return {**tables, "transitions": trans.assign(resolved=resolved), "refinement": history, "ladder": list(config.ns), "config": config.to_dict(),
            "compute_s": time.perf_counter() - t0}


def _bootstrap_ci(values: np.ndarray, stat, rng: np.random.Generator, B: int = 2000,
                  alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat`` over the data sets (NaN with fewer than 3)."""
    if len(values) < 3:
        return np.nan, np.nan
    idx = rng.integers(0, len(values), size=(B, len(values)))
    reps = np.array([stat(values[i]) for i in idx])
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def switch_summary(rows: Sequence[dict], datasets: int | None = None, seed: int = 0):
    """Per (convention, from, to): the switch ``n`` over data sets, its spread and its intervals.

    ``rows`` are the rows of ``switches.csv`` (``convention, beta, dataset, from, to, n, lower,
    upper, predicted_n, predicted_n_laplace, mixed``; ``dataset = "population"`` for the
    population loss). A data set contributes one value: its first (smallest-n) switch of that
    kind, so a posterior that switches back and forth is not counted twice; ``not_single`` is the
    share of the data sets with that switch where the two phases change places more than once
    (the switch repeats, or goes back). ``mean``, ``median`` and ``sd`` come with 95% percentile
    bootstrap intervals over data sets (``*_lower``, ``*_upper``; seeded by ``seed``).
    ``datasets`` is the number of data sets run per convention: the summary says how many of them
    switched (``datasets``) out of how many (``datasets_run``). ``values`` lists every value up
    to :data:`VALUES_LISTED` data sets, else their 5, 50 and 95% quantiles (``switches.csv`` has
    all). The predictions are those made near the population-loss switch when there is one (else
    near the first data set's).

    Returns the switch-summary hand-off (:data:`comparisons.contracts.SWITCH_SUMMARY`): the columns
    of :data:`SUMMARY_COLUMNS` over ``row`` (NaN where undefined), attrs ``sampler``, ``seed`` and
    ``seed_rule``.
    """
    import xarray as xr

    from ..theory import child_rng

    cols: dict[str, list] = {k: [] for k in SUMMARY_COLUMNS}
    keys = sorted({(r["convention"], r["from"], r["to"]) for r in rows})
    for conv, a, b in keys:
        sel = sorted((r for r in rows if (r["convention"], r["from"], r["to"]) == (conv, a, b)),
                     key=lambda r: float(r["n"]))
        first: dict[str, dict] = {}
        for r in sel:
            first.setdefault(str(r["dataset"]), r)
        data = np.array([float(r["n"]) for d, r in sorted(first.items(), key=lambda kv: kv[0])
                         if d != "population"])
        crossings = {d: sum(1 for r in rows if r["convention"] == conv and str(r["dataset"]) == d
                            and {r["from"], r["to"]} == {a, b}) for d in first if d != "population"}
        pop = first.get("population")
        ref = pop or sel[0]
        rng = child_rng(seed, "bayes", "study", "summary", conv, a, b)
        values = (" ".join(f"{v:.0f}" for v in data) if len(data) <= VALUES_LISTED else
                  "{} values; 5/50/95%: {:.0f} / {:.0f} / {:.0f} (switches.csv)".format(
                      len(data), *np.quantile(data, [0.05, 0.5, 0.95])))
        row = {"convention": conv, "beta": sel[0]["beta"], "from": a, "to": b,
               "datasets": len(data), "datasets_run": datasets if datasets is not None else len(data),
               "mean": float(np.mean(data)) if len(data) else np.nan,
               "median": float(np.median(data)) if len(data) else np.nan,
               "sd": float(np.std(data, ddof=1)) if len(data) > 1 else np.nan,
               "not_single": (float(np.mean([c > 1 for c in crossings.values()])) if crossings else np.nan),
               "values": values,
               "population": float(pop["n"]) if pop else np.nan,
               "predicted_n": ref.get("predicted_n"), "predicted_n_laplace": ref.get("predicted_n_laplace"),
               "all_mixed": all(bool(r["mixed"]) for r in sel)}
        for name, stat in (("mean", np.mean), ("median", np.median), ("sd", lambda v: np.std(v, ddof=1))):
            row[f"{name}_lower"], row[f"{name}_upper"] = _bootstrap_ci(data, stat, rng)
        for k in SUMMARY_COLUMNS:
            cols[k].append(np.nan if row[k] is None else row[k])
    kinds = {"convention": str, "from": str, "to": str, "values": str, "datasets": np.int64,
             "datasets_run": np.int64, "all_mixed": bool}
    return validate_switch_summary(xr.Dataset(
        {k: (("row",), np.array(v, dtype=kinds.get(k, float))) for k, v in cols.items()},
        coords={"row": np.arange(len(cols["convention"]))},
        attrs={"sampler": "pt", "seed": int(seed), "seed_rule": SUMMARY_SEED_RULE}))


#: how the study's randomness is seeded (the attrs of the switch summary)
SUMMARY_SEED_RULE = ("data set k: child_seed(seed, 'bayes', 'dataset', k), the same in every convention; "
                     "bootstrap intervals: child_rng(seed, 'bayes', 'study', 'summary', convention, from, to)")


SWITCH_COLUMNS = ["convention", "beta", "dataset", "seed", "from", "to", "n", "lower", "upper", "n_before",
                  "n_after", "resolved", "predicted_n", "predicted_n_laplace", "dominance", "mixed"]
SUMMARY_COLUMNS = ["convention", "beta", "from", "to", "datasets", "datasets_run", "mean", "mean_lower",
                   "mean_upper", "median", "median_lower", "median_upper", "sd", "sd_lower", "sd_upper",
                   "not_single", "values", "population", "predicted_n", "predicted_n_laplace", "all_mixed"]


def run_pt_study(config, study: SwitchStudyConfig, out_dir, *, progress: bool = True, executor: str = "inline",
                 workers: int | None = None, scheduler=None, retries: int = 2,
                 replace: bool | None = None) -> dict:
    """PT over ``study.datasets`` data sets per convention (plus the population loss), and the spread.

    Every run is one task of :func:`comparisons.sweep.run_sweep` (:func:`study_tasks`,
    :func:`study_task`): stored atomically under ``out/tasks`` by a hash of its full
    configuration, skipped when intact (a study killed at any point resumes from its stored
    tasks), retried when it raises, and run in-process (``executor="inline"``), on a local process
    pool (``"process"``, ``workers``) or on Dask (``scheduler``: an address or ``"local"``). The
    results are read back from the store, so the outputs are the same whichever executor and
    however many workers computed them. Each run's tables go to ``out/<convention>/data<k>`` (or
    ``population``): ``config.json``, ``occupancy.csv``, ``occupancy_family.csv``,
    ``transitions.json``, ``diagnostics.csv`` (and their netCDF hand-offs) and ``refinement.json``;
    the study writes ``switches.csv``, ``switch_summary.csv``/``.nc`` and ``switches.png``.
    The folder is owned by the study (:func:`comparisons.folder.owned_folder`; ``replace`` as there).

    Returns
    -------
    JobResult
        Its files (``timing.json`` among them), ``compute_s``, ``cached`` and the ``summary``
        ``{"switches": rows of switches.csv, "summary": rows of switch_summary.csv, "compute_s":
        seconds of sampling behind them, "cached": whether every run was reused, "computed",
        "reused": task counts}``.

    Raises
    ------
    InputError
        On bad arguments or an unreachable scheduler, before any work; naming the failed tasks
        after the others are stored.
    """
    from ..sweep import check_scheduler

    if not isinstance(study, SwitchStudyConfig):
        raise InputError(f"study: expected a SwitchStudyConfig, got {type(study).__name__}")
    check_scheduler(scheduler)
    if scheduler is not None and executor == "inline":
        executor = "dask"
    with (recording("bayes --sampler pt --datasets", out_dir) as rec,
          owned_folder(out_dir, "bayes --sampler pt --datasets", sampler="pt",
                       config={"config": config.to_dict(), **study.to_dict()}, replace=replace) as folder):
        res = _run_pt_study(config, study, folder.root, progress=progress, executor=executor, workers=workers,
                            scheduler=scheduler, retries=retries)
        write_json(folder.root / "timing.json", {"compute_s": res["compute_s"], "cached": res["cached"],
                                                 "computed": res["computed"], "reused": res["reused"]})
        folder.finish()
    return rec.result(compute_s=res["compute_s"], cached=res["cached"], summary=res)


def _run_pt_study(config, study: SwitchStudyConfig, out, *, progress: bool, executor: str, workers: int | None,
                  scheduler, retries: int) -> dict:
    from ..sweep import ResultStore, run_sweep

    tasks = study_tasks(config, study)
    store = ResultStore(out / "tasks", result_format=STUDY_FORMAT, versions=package_versions("numpy", "scipy", "arviz"))
    # the longest tasks first, so that no worker is left with one at the end: a population-loss run
    # (numpy gradient) costs about three data-set runs (compiled kernel); the outputs keep the tasks' order
    order = sorted(range(len(tasks)), key=lambda i: tasks[i].config["dataset"] != "population")
    res = run_sweep([tasks[i] for i in order], study_task, store, executor=executor, workers=workers,
                    scheduler=scheduler, retries=retries, progress=progress, desc="PT study")
    if not res.ok:
        res.exit_status()
        raise InputError(f"PT study: {len(res.failures)} of {len(res.tasks)} runs failed (first: "
                         f"{res.failures[0].error}); finished runs are kept in {store.path}, re-run to resume")
    rows = []
    results = [None] * len(tasks)
    for k, i in enumerate(order):
        results[i] = res.results[k]
    for task, result in zip(tasks, results):
        conv, ds = task.config["convention"], task.config["dataset"]
        cfg = dict(result["config"])
        cfg["ns"] = tuple(cfg["ns"])
        from bayes_tms.pt import PTConfig

        run_cfg = PTConfig(**cfg)
        folder = check_writable_dir(out / conv / ("population" if ds == "population" else f"data{int(ds):02d}"))
        write_json(folder / "config.json", {**run_cfg.to_dict(), "requested_ns": list(config.ns)})
        _write_tables(folder, run_cfg, result)
        write_json(folder / "refinement.json", result["refinement"])
        phase = level_switches(result["transitions"])
        names = ("from", "to", "n", "lower", "upper", "n_before", "n_after", "resolved", "predicted_n",
                 "predicted_n_laplace", "dominance")
        for values in zip(*(phase[k].values.tolist() for k in names)):
            t = dict(zip(names, values))
            for k in ("predicted_n", "predicted_n_laplace"):  # no prediction: None, as in switches.csv
                t[k] = None if np.isnan(t[k]) else t[k]
            rows.append({"convention": conv, "beta": run_cfg.beta, "dataset": ds, "seed": run_cfg.seed, **t,
                         "mixed": result["mixed"]})
    write_csv(out / "switches.csv", rows, SWITCH_COLUMNS)
    summary = switch_summary(rows, datasets=study.datasets, seed=config.seed)
    write_dataset_csv(out / "switch_summary.csv", summary, SUMMARY_COLUMNS, present="beta")
    write_netcdf(summary, out / "switch_summary.nc")
    if rows:
        save_figure(plot_switches(rows, features=config.features, prior_sigma=config.prior_sigma),
                    out / "switches.png")
    return {"switches": rows, "summary": summary, "compute_s": res.total_compute_s,
            "cached": not res.computed, "computed": len(res.computed), "reused": len(res.reused)}


def plot_switches(rows: Sequence[dict], *, features: int | None = None, prior_sigma: float = 1.0):
    """The empirical distribution (ECDF) of the switch ``n`` over data sets, per convention.

    One panel per convention, one step curve per switch kind (a data set's first switch of that
    kind), with the population-loss switch (solid vertical line), the free-energy predictions
    (asymptotic: dashed; with O(1) terms: dotted) in the curve's colour and, given ``features``,
    the paper's reported switch (:func:`mark_paper_switch`); log ``n``. Readable at hundreds of
    data sets (the legend sits below the panels).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    pairs = sorted({(r["from"], r["to"]) for r in rows})
    convs = sorted({r["convention"] for r in rows}, key=lambda c: -CONVENTIONS.get(c, 0))
    fig, axes = plt.subplots(1, len(convs), figsize=(5.2 * len(convs), 4.2), squeeze=False, sharey=True)
    handles = {}
    for ax, conv in zip(axes[0], convs):
        drawn: set = set()  # a switch and its reverse share their predictions: draw each once
        for j, (a, b) in enumerate(pairs):
            color = f"C{j if j < 4 else j + 1}"  # C4 is the paper's mark
            sel = [r for r in rows if r["convention"] == conv and (r["from"], r["to"]) == (a, b)]
            first: dict[str, dict] = {}
            for r in sorted(sel, key=lambda r: float(r["n"])):
                first.setdefault(str(r["dataset"]), r)
            data = np.sort([float(r["n"]) for d, r in first.items() if d != "population"])
            if len(data):
                y = np.arange(1, len(data) + 1) / len(data)
                h, = ax.step(np.r_[data[0], data], np.r_[0, y], where="post", color=color, lw=1.6)
                handles[f"{a} → {b}: data sets ({len(data)})"] = h
            pop = first.get("population")
            if pop is not None:
                ax.axvline(float(pop["n"]), color=color, lw=1.2, alpha=0.9)
                handles.setdefault("population loss", plt.Line2D([], [], color="0.35", lw=1.2))
            ref = pop or (sel[0] if sel else None)
            for key, ls, name in (("predicted_n", "--", "free energy, asymptotic"),
                                  ("predicted_n_laplace", ":", "free energy, with O(1) terms")):
                if ref is not None and ref.get(key) not in (None, "") and np.isfinite(float(ref[key])) \
                        and (key, round(float(ref[key]), 6)) not in drawn:
                    drawn.add((key, round(float(ref[key]), 6)))
                    ax.axvline(float(ref[key]), color=color, ls=ls, lw=1.4)
                    handles.setdefault(name, plt.Line2D([], [], color="0.35", ls=ls, lw=1.4))
        if features is not None:
            mark_paper_switch(ax, paper_switch_n(features, prior_sigma), label=ax is axes[0, 0])
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("switch n (log scale)")
        ax.set_title(f"{conv} (beta = {CONVENTIONS.get(conv, float('nan')):g})", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("share of data sets switched by n (ECDF)")
    for h, lab in zip(*axes[0, 0].get_legend_handles_labels()):
        handles.setdefault(lab, h)
    fig.suptitle("Switch of the leading phase over data sets (ECDF); vertical lines in a curve's colour: "
                 "its population-loss switch and predictions", fontsize=9)
    fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=3, fontsize=7,
               frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig
