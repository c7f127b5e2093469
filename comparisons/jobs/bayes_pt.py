"""The Bayesian job with replica exchange: one PT run per data set and convention, and the spread.

A *run* (:func:`run_pt`) samples the ladder of one data set at one inverse temperature with
:func:`bayes_tms.pt.sample_tms_pt`, checkpointing the sampler state so that an interrupted run
resumes, refines it around its switches (:func:`refine_pt`: rungs inserted into every bracket
wider than 2% of its switch and sampled on a sub-ladder, the requested rungs keeping the first
run's draws; ``refine_tol=0`` turns it off) and writes

- ``posterior_nNNNNN.nc`` per rung sampled, requested or inserted (with ``empirical_loss``, ``population_loss``,
  ``phase`` and ``phase_distance`` per draw; ``chain`` is the PT copy),
- ``pt_diagnostics.nc`` (swap acceptance per pair, round trips per copy, replica-index traces),
- ``occupancy.csv`` / ``occupancy_family.csv`` (``n, phase, fraction, lower, upper, chains``:
  draw fractions, valid because the replicas cross between phases, with 95% bootstrap intervals
  over copies), ``transitions.json`` (switches of the dominant phase with the free-energy
  predictions at the run's ``beta``), ``diagnostics.csv`` (per ``n``: R-hat and ESS of the loss
  across copies, HMC acceptance, swap acceptance to the next rung, round trips, ``mixed``) and
  ``occupancy.png``; with refinement ``refinement.json`` (the rounds) and
  ``pt_diagnostics_roundK.nc`` (the sampler numbers of round ``K``).

A *study* (:func:`run_pt_study`) repeats the run over ``datasets`` data sets for each named
convention (:data:`CONVENTIONS`) and, optionally, on the population loss (no data noise). Each
run is one task of the sweep runner (:mod:`comparisons.sweep`: content-addressed, stored
atomically in ``out/tasks``, resumed after a kill, retried; in-process, on a process pool or on
Dask) and is refined as one run is (:func:`study_task`). The study writes
``switches.csv`` (one row per run and switch, every crossing of a repeated switch included),
``switch_summary.csv`` (per convention and switch: mean, median and sd over data sets with
bootstrap intervals, the share of data sets whose switch is not a single crossing, the
population value and the predictions) and ``switches.png`` (the empirical distribution).
"""

from __future__ import annotations

__all__ = ["CONVENTIONS", "MIXED_RHAT", "MIN_ROUND_TRIPS", "mixing_words", "stored_study_runs", "PAPER_SWITCH", "PAPER_SWITCH_LABEL",
           "SwitchStudyConfig",
           "analyse_pt", "paper_switch_n", "mark_paper_switch", "plot_switches", "run_pt",
           "run_pt_study", "study_task", "study_tasks", "switch_summary"]

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..contracts import (combine_transitions, level_switches, nanmax_or_nan, package_versions, validate_diagnostics,
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
#: switch refinement of a run (one run of the command, and a study's): bracket every switch of the
#: leading phase within this fraction of its n ...
REFINE_TOL = 0.02
#: ... in at most this many rounds. A round inserts into a bracket as many rungs as steps of
#: 1 + REFINE_TOL need (8 to 10 at the paper preset's spacing, 1.2), at most REFINE_INSERT, so
#: that one round resolves a switch that stays in its bracket there; a later round runs where a
#: switch moved out of it or its bracket needed more (the quick preset's, 1.4 to 1.7: 19 to 31;
#: below n = 100, where 2% is under 2, every integer)
REFINE_ROUNDS = 3
REFINE_INSERT = 10
#: warm-up sweeps of a refinement round (at most the run's own): it starts from the first run's
#: final positions and adapted step sizes (bayes_tms.pt.warm_start), not from the prior
REFINE_WARMUP = 100
#: kept sweeps of a refinement round, as a fraction of the run's: its sub-ladder ends at the switch,
#: so its walkers make more round trips per sweep than the first run's (paper preset, seed 0,
#: beta = 1: 128 and 344 per copy in 6000 sweeps on 29 and 12 rungs, against 65 on the first
#: run's ladder); half the sweeps keep at least as many round trips as the first run made
REFINE_SWEEPS = 0.5
OCC_COLUMNS = ["n", "phase", "fraction", "lower", "upper", "chains"]
DIAG_COLUMNS = ["n", "inserted", "copies", "draws", "rhat_loss", "ess_bulk_loss", "ess_tail_loss",
                "hmc_accept", "step_size", "swap_accept_next", "round_trips_mean", "round_trips_min",
                "mixed"]


def _diagnostics(posts: dict, diag):
    """Per requested ``n``: convergence of an invariant (the loss) and the PT mixing numbers.

    ``diag``: the run's ``pt_diagnostics``, or a mapping ``n -> pt_diagnostics`` of the run that
    sampled each rung (a refined run: :func:`refine_pt`). Returns the diagnostics hand-off
    (:data:`comparisons.contracts.DIAGNOSTICS`): the columns of :data:`DIAG_COLUMNS` over ``row``,
    one per ``n``, attrs ``sampler = "pt"``.
    """
    import arviz as az
    import xarray as xr

    cols: dict[str, list] = {k: [] for k in DIAG_COLUMNS}
    for n, idata in sorted(posts.items()):
        run = diag[n] if isinstance(diag, dict) else diag
        ns = [int(v) for v in run["rung"].values]
        trips = run["round_trips"].values
        swap = run["swap_accept"].values
        hmc, step = run["hmc_accept"].values, run["step_size"].values
        k = ns.index(n)
        post = idata.posterior
        name = "empirical_loss" if "empirical_loss" in post else "population_loss"
        loss = post[name].transpose("chain", "draw").values
        r = {"n": n, "inserted": bool(post.attrs.get("inserted", 0)), "copies": loss.shape[0],
             "draws": loss.shape[1], "rhat_loss": np.nan, "ess_bulk_loss": np.nan, "ess_tail_loss": np.nan,
             "hmc_accept": float(hmc[k]), "step_size": float(step[k]),
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
    if sorted(int(n) for n in raw["n"].values) != sorted(config.ns):  # refined: its rungs and those asked for
        meta["requested_ns"] = [int(n) for n in sorted(config.ns)]
    write_netcdf(raw.assign_attrs(meta), out / "occupancy.nc")
    write_netcdf(fam.assign_attrs(meta), out / "occupancy_family.nc")
    write_dataset_json(out / "transitions.json", trans)
    write_netcdf(trans, out / "transitions.nc")
    write_dataset_csv(out / "diagnostics.csv", diag, DIAG_COLUMNS, present="n")
    write_netcdf(diag, out / "diagnostics.nc")


def run_pt(config, out_dir, *, refine_tol: float = REFINE_TOL, refine_rounds: int = REFINE_ROUNDS,
           progress: bool = True, chunk: int = 1000, replace: bool | None = None) -> JobResult:
    """Sample one PT ladder (``config``: :class:`bayes_tms.pt.PTConfig`), refine it around its
    switches, and write its outputs.

    Refined as a study's runs are (:func:`refine_pt`): while a switch of the leading phase is
    bracketed more widely than ``refine_tol`` of its ``n``, up to ``refine_rounds`` rounds insert
    rungs into its bracket and run PT on a sub-ladder (the inserted rungs, their bracket and the
    rungs below). Every rung keeps the draws of the run that introduced it, so the requested
    rungs keep the first run's draws; the occupancy tables hold every rung sampled (the inserted
    ones flagged in ``diagnostics.csv``), ``config.json`` the requested ladder, and each switch of
    ``transitions.json`` says whether it is ``resolved``; ``refinement.json`` lists the rounds and
    ``pt_diagnostics_roundK.nc`` the sampler numbers of round ``K``. ``refine_tol=0`` (or
    ``refine_rounds=0``): one run on the requested ladder, without those files.

    Resumable: the sampler state of each round is saved atomically every ``chunk`` sweeps to
    ``pt_state.npz`` (round 0) or ``pt_state_roundK.npz``, and kept until the run is done; the same
    call continues from them (bit-identical to an uninterrupted run).
    Each checkpoint rewrites every draw so far, so their total cost grows with the square of the
    run's length: 1000 sweeps (a few seconds of sampling at the paper preset) keep it to a few
    checkpoints per run (every 50 sweeps, it was a tenth of a paper run's time).
    A finished folder (``done.json`` with the same configuration and refinement) is only
    re-analysed, once every stored posterior has been validated; one that fails (missing,
    truncated, non-finite, written by another run) is named in a warning and the run is
    recomputed. The folder is owned by this job (:func:`comparisons.folder.owned_folder`;
    ``replace`` as there).

    Returns
    -------
    JobResult
        Its files (``timing.json`` among them: ``compute_s``, ``cached``), ``compute_s``, ``cached``
        and the ``summary`` ``{"transitions", "diagnostics", "wall_s", "compute_s", "cached", "mixed",
        "rungs"}`` (``rungs``: every rung sampled, requested and inserted).
    """
    from bayes_tms.pt import PTConfig

    if not isinstance(config, PTConfig):
        raise InputError(f"config: expected a PTConfig, got {type(config).__name__}")
    refine = _refine_record(refine_tol, refine_rounds)
    with (recording("bayes --sampler pt", out_dir) as rec,
          owned_folder(out_dir, "bayes --sampler pt", sampler="pt",
                       config={"config": config.to_dict(), **({"refine": refine} if refine else {})},
                       replace=replace) as folder):
        res = _run_pt(config, folder.root, refine=refine, progress=progress, chunk=chunk)
        write_json(folder.root / "timing.json", {"compute_s": res["compute_s"], "cached": res["cached"]})
        folder.finish()
    return rec.result(compute_s=res["compute_s"], cached=res["cached"], summary=res)


def _refine_record(refine_tol, refine_rounds) -> dict | None:
    """``{"tol", "rounds", "insert", "warmup", "sweeps"}`` of a run's switch refinement, checked; None when off."""
    if isinstance(refine_tol, bool) or not isinstance(refine_tol, (int, float)) or not 0 <= refine_tol < 1:
        raise InputError(f"refine_tol: expected a number in [0, 1), got {refine_tol!r}")
    check_positive_int("refine_rounds", refine_rounds, minimum=0)
    if refine_tol == 0 or refine_rounds == 0:
        return None
    return {"tol": float(refine_tol), "rounds": int(refine_rounds), "insert": REFINE_INSERT, "warmup": REFINE_WARMUP,
            "sweeps": REFINE_SWEEPS}


def round_config(base, ladder: Sequence[int], rnd: int, warmup: int = REFINE_WARMUP,
                 sweeps: float = REFINE_SWEEPS):
    """The :class:`~bayes_tms.pt.PTConfig` of switch-refinement round ``rnd`` of a run on ``base``.

    Round 0 is ``base``; round ``k > 0`` samples the sub-ladder ``ladder`` on the same data
    (the caller passes the base run's stream) from the seed ``child_seed(base.seed, "bayes", "pt",
    "refine", k)``, so that its draws are independent of the other rounds'. It is warm-started
    from round 0's final state (:func:`bayes_tms.pt.warm_start`, :func:`refine_pt`), whose ladder
    (pilot rungs included in ``ladder``) is refined already: no pilots (``min_swap_accept = 0``),
    ``min(base.warmup, warmup)`` warm-up sweeps and the fraction ``sweeps`` of the base run's
    kept sweeps (:data:`REFINE_SWEEPS`; at least :data:`bayes_tms.config.MIN_KEPT_DRAWS` draws).
    """
    from bayes_tms.config import MIN_KEPT_DRAWS

    if rnd == 0:
        return base
    ns = tuple(int(n) for n in ladder)
    kept = max(int(np.ceil(base.sweeps * float(sweeps))), base.thin * MIN_KEPT_DRAWS)
    return dataclasses.replace(base, ns=ns, seed=child_seed(base.seed, "bayes", "pt", "refine", int(rnd)),
                               min_swap_accept=0.0, warmup=min(base.warmup, int(warmup)), sweeps=kept,
                               max_rungs=max(base.max_rungs, len(ns)))


def refine_pt(base, x, sample_run, *, tol: float, rounds: int, insert: int = REFINE_INSERT):
    """PT on ``base``'s ladder, then on sub-ladders around its switches: one run, or a study's.

    :func:`bayes_tms.occupancy.refine_switches` with PT rounds: round 0 samples ``base``; each
    later round samples the inserted rungs with the rungs of round 0's ladder below them (its
    pilot rungs too: :func:`round_config`), warm-started from round 0's final state, and every
    rung keeps the draws of the round that introduced it. The tables are those of
    :func:`analyse_pt` over every rung sampled (each rung's diagnostics from its own round); when
    refining, the transitions gain ``resolved`` (:func:`bayes_tms.occupancy.mark_resolved`: False
    for families, which are not refined).

    Parameters
    ----------
    base : PTConfig
    x : ndarray or None
        The data stream of ``base`` (None: the population loss).
    sample_run : callable
        ``(config, round, start, keep) -> PTResult``, e.g. :func:`bayes_tms.pt.sample_tms_pt` on
        ``x`` with ``start=start`` (None in round 0; later, round 0's final
        :class:`~bayes_tms.pt.PTState`) and ``rungs=keep`` (the rungs the round keeps, None: all),
        or with checkpoints.
    tol, rounds, insert
        The refinement (``tol == 0`` or ``rounds == 0``: the base run alone).

    Returns
    -------
    results, tables, history
        ``{n: (posterior, pt_diagnostics of its round)}`` over every rung sampled, the tables, and
        per round ``{"round", "ns", "kept", "inserted", "switches"}``.
    """
    from bayes_tms.occupancy import mark_resolved, refine_switches

    tables: dict = {}
    first: dict = {}  # round 0's final state: the warm start of every later round

    def sample(ladder, keep, rnd):
        cfg = round_config(base, ladder, rnd)
        res = sample_run(cfg, rnd, first.get("state"), None if rnd == 0 else keep)
        if rnd == 0:
            first["state"] = res.state
        _mark_run(res.posteriors, cfg.draws_key())
        for n in keep:
            if rnd:
                res.posteriors[n].posterior.attrs.update({"inserted": 1, "refine_round": int(rnd)})
        return {n: (res.posteriors[n], res.diagnostics) for n in keep}

    def analyse(results):
        tables.clear()
        tables.update(analyse_pt(base, {n: v[0] for n, v in results.items()},
                                 {n: v[1] for n, v in results.items()}))
        return level_switches(tables["transitions"])

    results, _, history = refine_switches(sample, base.ns, analyse, tol=tol,
                                          max_rounds=rounds if tol > 0 else 0, max_insert=insert,
                                          first_ladder=lambda: first["state"].ns.tolist())
    if tol > 0 and rounds > 0:  # every switch of the run, families (not refined) False
        tables["transitions"] = mark_resolved(tables["transitions"], tol)
    return results, tables, history


def _round_files(out, rnd: int) -> tuple:
    """``(state, diagnostics)`` paths of refinement round ``rnd`` of a run in ``out``."""
    if rnd == 0:
        return out / STATE_FILE, out / "pt_diagnostics.nc"
    return out / f"pt_state_round{rnd}.npz", out / f"pt_diagnostics_round{rnd}.nc"


def _stored_run(out, config, key: str, history: Sequence[dict] | None):
    """``(posteriors, {n: pt_diagnostics})`` of a finished PT run in ``out``, each file validated.

    A posterior must pass :func:`comparisons.contracts.validate_posterior` and
    :func:`bayes_tms.sampling.check_complete` (every copy's draws present and finite) and carry
    its round's configuration (``history``: the refinement rounds, None for one run) and the
    classifier in its attrs. Raises InputError naming the first file that fails.
    """
    import xarray as xr

    from bayes_tms.sampling import check_complete

    from .bayes import posterior_path

    rounds = history or [{"round": 0, "ns": list(config.ns), "kept": list(config.ns)}]
    posts, diags = {}, {}
    for rec in rounds:
        rnd = int(rec.get("round", 0))
        rkey = key if rnd == 0 else round_config(config, rec["ns"], rnd).draws_key()
        path = _round_files(out, rnd)[1]
        try:
            with xr.open_dataset(path, engine="h5netcdf") as ds:
                diag = ds.load()
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: expected a readable netCDF file ({str(exc).splitlines()[0]})") from None
        for n in rec["kept"]:
            path = posterior_path(out, n)
            idata = validate_posterior(path)
            post = idata.posterior
            if post.attrs.get("config") != rkey or post.attrs.get("classifier") != config.classifier:
                raise InputError(f"{path}: expected draws of this PT run (its configuration and the "
                                 f"{config.classifier} classifier), got those of another run")
            try:  # every copy present, the same number of draws in each, all of them finite
                check_complete(idata, chains=config.copies, draws=max(int(post.sizes.get("draw", 0)), 1), n=n)
            except Exception as exc:
                raise InputError(f"{path}: {exc}") from None
            posts[int(n)], diags[int(n)] = idata, diag
    return dict(sorted(posts.items())), diags


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


def _sample_checkpointed(x, config, state_path, *, progress: bool, chunk: int, start=None, rungs=None):
    """PT on ``config`` (warm-started from ``start``, a refinement round's; posteriors of ``rungs``,
    None: all), checkpointed to ``state_path`` every ``chunk`` sweeps; a state of the same
    configuration found there is resumed (a finished one is only read back)."""
    from bayes_tms.pt import load_state, resume_tms_pt, sample_tms_pt, save_state

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
        if state is not None and _state_key(state) != config.draws_key():
            state = None  # a state of another configuration: start afresh
    if state is not None:
        print(f"resuming PT from sweep {state.sweep} ({state_path})", file=sys.stderr)
        return resume_tms_pt(x, state, progress=progress, callback=checkpoint, chunk=chunk, rungs=rungs)
    return sample_tms_pt(x, config, progress=progress, callback=checkpoint, chunk=chunk, start=start, rungs=rungs)


def _run_pt(config, out, *, refine: dict | None, progress: bool, chunk: int) -> dict:
    from bayes_tms.occupancy import mark_resolved
    from bayes_tms.plots import plot_occupancy

    from .bayes import posterior_path

    key = config.draws_key()
    done_path = out / DONE_FILE
    done = _read_done(done_path)
    # the key holds the classifier too: the stored draws are labelled by it
    cached = bool(done and done.get("config") == key and done.get("refine") == refine)
    history = None
    if cached:  # every file done.json vouches for is checked before it is served
        try:
            if refine:
                history = json.loads((out / "refinement.json").read_text())
            stored = _stored_run(out, config, key, history)
        except (InputError, OSError, ValueError, KeyError, TypeError) as exc:
            print(f"warning: {exc}; recomputing the PT run", file=sys.stderr)
            cached = False
    x = None if config.population else sample_inputs(max(config.ns), config.features, config.seed)
    t0 = time.perf_counter()
    if not cached:
        done_path.unlink(missing_ok=True)  # the marker never outlives the files it vouches for
        write_json(out / "config.json", config.to_dict())
        results, tables, history = refine_pt(
            config, x, lambda cfg, rnd, start, keep: _sample_checkpointed(
                x, cfg, _round_files(out, rnd)[0], progress=progress, chunk=chunk, start=start, rungs=keep),
            tol=refine["tol"] if refine else 0.0, rounds=refine["rounds"] if refine else 0,
            insert=refine["insert"] if refine else REFINE_INSERT)
        for n, (idata, _) in results.items():
            write_netcdf(idata, posterior_path(out, n))
        for rec in history:
            rnd = int(rec["round"])
            write_netcdf(results[rec["kept"][0]][1], _round_files(out, rnd)[1])
        if refine:
            write_json(out / "refinement.json", history)
        compute = time.perf_counter() - t0
        write_json(done_path, {"config": key, "compute_s": compute, **({"refine": refine} if refine else {})})
        for rec in history:
            _round_files(out, int(rec["round"]))[0].unlink(missing_ok=True)
    else:
        posts, diags = stored
        compute = float(done.get("compute_s", float("nan")))
        for path in ([posterior_path(out, n) for n in posts]
                     + [_round_files(out, int(r.get("round", 0)))[1] for r in (history or [{}])]
                     + [done_path, out / "config.json"] + ([out / "refinement.json"] if refine else [])):
            keep(path)  # served from the earlier run: outputs of this one
        tables = analyse_pt(config, posts, diags)
        if refine:
            tables["transitions"] = mark_resolved(tables["transitions"], refine["tol"])
    raw, trans, diag = tables["occupancy"], tables["transitions"], tables["diagnostics"]
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
    return {"transitions": trans, "diagnostics": diag, "wall_s": time.perf_counter() - t0,
            "compute_s": compute, "cached": cached, "mixed": tables["mixed"],
            "rungs": diag["n"].values.tolist()}


#: format of a study task's stored result; bump when what :func:`study_task` returns changes
#: (3: the transitions and diagnostics are hand-off Datasets; 4: over every rung of the
#: sub-ladder refinement, with its rounds and the base run's config)
STUDY_FORMAT = 4


def _study_versions() -> dict:
    """The package versions in every study task's key (one home for the store and the estimate)."""
    return package_versions("numpy", "scipy", "arviz")


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
        Refine each run (:func:`refine_pt`) until every switch of the leading phase is bracketed
        within this fraction of its ``n``, in ``[0, 1)`` (0: no refinement).
    refine_rounds : int
        At most this many refinement rounds per run, ``>= 0``.
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
        "help": "insert rungs around every switch of the leading phase and sample them (with the rungs below, "
                f"where the walkers mix) until it is bracketed within F of its n; one run's and, with --datasets, "
                f"each study run's (default: {REFINE_TOL:g}; 0: no refinement, the requested rungs only)",
        "metavar": "F"})
    refine_rounds: int = dataclasses.field(default=REFINE_ROUNDS, metadata={
        "help": f"at most R switch-refinement rounds per run (default: {REFINE_ROUNDS})",
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
                                     "refine_insert": REFINE_INSERT, "refine_warmup": REFINE_WARMUP,
                                     "refine_sweeps": REFINE_SWEEPS}))
    return tasks


def stored_study_runs(config, study: SwitchStudyConfig, out_dir) -> set[tuple[str, str]]:
    """The ``(convention, dataset)`` runs of the study whose results are stored intact under
    ``out_dir`` (its ``tasks`` store), read only: the estimate leaves them out.

    ``dataset`` is the data set's number as a string, or ``"population"``, as in ``switches.csv``.
    """
    from ..sweep import intact_tasks

    tasks = study_tasks(config, study)
    done = intact_tasks(Path(out_dir) / "tasks", tasks, result_format=STUDY_FORMAT, versions=_study_versions())
    return {(t.config["convention"], t.config["dataset"]) for t, ok in zip(tasks, done) if ok}


def study_task(task) -> dict:
    """Run one study task: PT, refined around every switch, and its tables (module level, picklable).

    The run is refined as one run of the command is (:func:`refine_pt`): rungs are inserted
    around every switch of the leading (classified plurality) phase, the switches of
    ``switches.csv``, and sampled on a sub-ladder, until each is bracketed within ``refine_tol``
    of its ``n``; switches and intervals come from the copies at the inserted rungs, the occupancy
    holds every rung sampled. Everything random comes from the task's PT seed and BLAS runs on one
    thread, so the result does not depend on the executor or worker.

    Returns
    -------
    dict
        The tables of :func:`analyse_pt` over every rung sampled (its transitions with
        ``resolved``: :func:`bayes_tms.occupancy.mark_resolved`, False for families, which are not
        refined), plus ``refinement`` (per round: ladder, kept rungs, switches, inserted rungs),
        ``ladder`` (every rung sampled), ``config`` (the base run's) and ``compute_s``.
    """
    from threadpoolctl import threadpool_limits

    from bayes_tms.pt import PTConfig, sample_tms_pt
    from bayes_tms.pt_kernel import serial

    cfg = dict(task.config["pt"])
    cfg["ns"] = tuple(cfg["ns"])
    base = PTConfig(**cfg)
    x = None if base.population else sample_inputs(max(base.ns), base.features, base.seed)
    t0 = time.perf_counter()
    # one BLAS thread and the PT kernel's serial loop in every executor: N workers use N cores
    # without oversubscription, and the floating-point reductions are the same whichever process
    # (and thread setting) runs the task
    with threadpool_limits(limits=1), serial():
        results, tables, history = refine_pt(
            base, x, lambda config, rnd, start, keep: sample_tms_pt(x, config, progress=False, start=start,
                                                                    rungs=keep),
            tol=float(task.config["refine_tol"]), rounds=int(task.config["refine_rounds"]),
            insert=int(task.config["refine_insert"]))
    return {**tables, "refinement": history, "ladder": sorted(results), "config": base.to_dict(),
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


def switch_stretch_rows(rows: Sequence[dict]) -> list[dict]:
    """``switches.csv`` rows with each (convention, data set)'s crossings merged into stretches.

    Within one data set (or the population loss), consecutive switches that flip back and forth
    between the same two phases are merged as :func:`comparisons.contracts.switch_stretches` does:
    an odd run is one switch from the first one's ``from`` to the last one's ``to``, at the
    geometric mean of their ``n``, its interval from the smallest lower to the largest upper end;
    an even run (the lead goes and comes back) stays crossing by crossing. The other columns are
    the first crossing's, but for ``rhat_switch``, the largest over the merged crossings;
    ``crossings`` counts the merged ones (1 for a single crossing).
    """
    import xarray as xr

    from ..contracts import switch_stretches

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["convention"], str(r["dataset"])), []).append(r)
    out: list[dict] = []
    for members in groups.values():
        members = sorted(members, key=lambda r: float(r["n"]))
        num = {k: ("transition", np.array([_float(r.get(k)) for r in members])) for k in ("n", "lower", "upper")}
        st = switch_stretches(xr.Dataset({**num, "from": ("transition", np.array([str(r["from"]) for r in members])),
                                          "to": ("transition", np.array([str(r["to"]) for r in members]))}))
        first = {float(r["n"]): r for r in reversed(members)}  # the first crossing at each n
        for t in range(st.sizes["transition"]):
            s = {k: st[k].values[t].item() for k in ("from", "to", "n", "lower", "upper", "n_first", "n_last",
                                                     "crossings")}
            merged = [r for r in members if s["n_first"] <= float(r["n"]) <= s["n_last"]
                      and {r["from"], r["to"]} == {s["from"], s["to"]}]
            row = {**first[s.pop("n_first")], **s}
            del row["n_last"]
            rh = nanmax_or_nan([_float(r.get("rhat_switch")) for r in merged])
            if np.isfinite(rh):  # else the first crossing's (absent or NaN: one copy)
                row["rhat_switch"] = rh
            out.append(row)
    return out


def _float(value) -> float:
    """A table cell as a float: NaN for None or an empty CSV cell."""
    return np.nan if value in (None, "") else float(value)


def _flag(value) -> bool:
    """A table cell as a bool: ``True``/``False`` as written to a CSV file, or a bool."""
    return value.strip().lower() in ("true", "1", "yes") if isinstance(value, str) else bool(value)


def switch_summary(rows: Sequence[dict], datasets: int | None = None, seed: int = 0):
    """Per (convention, from, to): the switch ``n`` over data sets, its spread and its intervals.

    ``rows`` are the rows of ``switches.csv`` (``convention, beta, dataset, from, to, n, lower,
    upper, predicted_n, predicted_n_laplace, rhat_switch, mixed``; ``dataset = "population"`` for
    the population loss; ``rhat_switch``: the loss R-hat across copies at the two rungs around the
    switch, optional). Each data set's switches are first merged into stretches
    (:func:`switch_stretch_rows`: an odd run of crossings back and forth between two phases within
    the noise is one switch at the geometric mean of its first and last crossing, as in figure 2
    and the judge). A data set then contributes one value: its first (smallest-n) switch of that
    kind, so a posterior that switches and later goes back is not counted twice; ``not_single`` is
    the share of the data sets with that switch where the two phases change places more than once
    (the switch is a stretch of crossings, repeats, or goes back). ``mean``, ``median`` and ``sd``
    come with 95% percentile bootstrap intervals over data sets (``*_lower``, ``*_upper``; seeded
    by ``seed``). ``datasets`` is the number of data sets run per convention: the summary says how many of them
    switched (``datasets``) out of how many (``datasets_run``). ``values`` lists every value up
    to :data:`VALUES_LISTED` data sets, else their 5, 50 and 95% quantiles (``switches.csv`` has
    all). The predictions are those made near the population-loss switch when there is one (else
    near the first data set's). ``rhat_max`` is the largest ``rhat_switch`` over the ``switches``
    counted that have one (the data sets' and the population run's; a run of one copy has none),
    ``disagree`` the number of them above :data:`MIXED_RHAT`: there the copies disagree at the
    switch, which is not measured; ``all_mixed`` says whether every run with this switch is mixed
    at every rung (loss R-hat at most :data:`MIXED_RHAT` and :data:`MIN_ROUND_TRIPS` round trips
    per copy over its whole ladder).

    Returns the switch-summary hand-off (:data:`comparisons.contracts.SWITCH_SUMMARY`): the columns
    of :data:`SUMMARY_COLUMNS` over ``row`` (NaN where undefined), attrs ``sampler``, ``seed`` and
    ``seed_rule``.
    """
    import xarray as xr

    from ..theory import child_rng

    cols: dict[str, list] = {k: [] for k in SUMMARY_COLUMNS}
    raw, rows = rows, switch_stretch_rows(rows)
    keys = sorted({(r["convention"], r["from"], r["to"]) for r in rows})
    for conv, a, b in keys:
        sel = sorted((r for r in rows if (r["convention"], r["from"], r["to"]) == (conv, a, b)),
                     key=lambda r: float(r["n"]))
        first: dict[str, dict] = {}
        for r in sel:
            first.setdefault(str(r["dataset"]), r)
        data = np.array([float(r["n"]) for d, r in sorted(first.items(), key=lambda kv: kv[0])
                         if d != "population"])
        crossings = {d: sum(1 for r in raw if r["convention"] == conv and str(r["dataset"]) == d
                            and {r["from"], r["to"]} == {a, b}) for d in first if d != "population"}
        pop = first.get("population")
        rh = np.array([_float(r.get("rhat_switch")) for r in first.values()])
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
               "predicted_n": _float(ref.get("predicted_n")),
               "predicted_n_laplace": _float(ref.get("predicted_n_laplace")),
               "rhat_max": nanmax_or_nan(rh),
               "disagree": int(np.sum(rh > MIXED_RHAT)), "switches": int(np.isfinite(rh).sum()),
               "all_mixed": all(_flag(r["mixed"]) for r in sel)}
        for name, stat in (("mean", np.mean), ("median", np.median), ("sd", lambda v: np.std(v, ddof=1))):
            row[f"{name}_lower"], row[f"{name}_upper"] = _bootstrap_ci(data, stat, rng)
        for k in SUMMARY_COLUMNS:
            cols[k].append(np.nan if row[k] is None else row[k])
    kinds = {"convention": str, "from": str, "to": str, "values": str, "datasets": np.int64,
             "datasets_run": np.int64, "disagree": np.int64, "switches": np.int64, "all_mixed": bool}
    return validate_switch_summary(xr.Dataset(
        {k: (("row",), np.array(v, dtype=kinds.get(k, float))) for k, v in cols.items()},
        coords={"row": np.arange(len(cols["convention"]))},
        attrs={"sampler": "pt", "seed": int(seed), "seed_rule": SUMMARY_SEED_RULE}))


def mixing_words(row: dict) -> str:
    """The study summary's verdict on mixing, as the command prints it after a switch ("" when every
    run mixed): whether the copies agree at the switch (``rhat_max``, ``disagree`` of ``switches``:
    :func:`switch_summary`), and that not every run mixed over its whole ladder."""
    rhat_max = row["rhat_max"]
    if row["all_mixed"]:
        return ""
    if row["disagree"]:
        return (f"; copies DISAGREE at {row['disagree']} of these {row['switches']} switches (loss R-hat up to "
                f"{rhat_max:.2f} > {MIXED_RHAT:g}): those are not measured")
    agree = f"copies agree at the switch (loss R-hat at most {rhat_max:.2f})" if np.isfinite(rhat_max) else ""
    return "; not every run mixed over its whole ladder" + (f", {agree}" if agree else "")


#: how the study's randomness is seeded (the attrs of the switch summary)
SUMMARY_SEED_RULE = ("data set k: child_seed(seed, 'bayes', 'dataset', k), the same in every convention; "
                     "bootstrap intervals: child_rng(seed, 'bayes', 'study', 'summary', convention, from, to)")


SWITCH_COLUMNS = ["convention", "beta", "dataset", "seed", "from", "to", "n", "lower", "upper", "n_before",
                  "n_after", "resolved", "predicted_n", "predicted_n_laplace", "dominance", "rhat_switch", "mixed"]
SUMMARY_COLUMNS = ["convention", "beta", "from", "to", "datasets", "datasets_run", "mean", "mean_lower",
                   "mean_upper", "median", "median_lower", "median_upper", "sd", "sd_lower", "sd_upper",
                   "not_single", "values", "population", "predicted_n", "predicted_n_laplace", "rhat_max",
                   "disagree", "switches", "all_mixed"]


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
    store = ResultStore(out / "tasks", result_format=STUDY_FORMAT, versions=_study_versions())
    # population-loss tasks first, so that no worker is left with a long one at the end (with numpy's
    # gradient one cost about three data-set runs; compiled, it is refined at every predicted switch
    # of a noise-free posterior); the outputs keep the tasks' order
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
        from bayes_tms.occupancy import add_predictions
        from bayes_tms.pt import PTConfig

        run_cfg = PTConfig(**cfg)
        # the stored run's switches with the theory's predictions of now (a stored task keeps those
        # of the code that sampled it)
        result = {**result, "transitions": add_predictions(result["transitions"])}
        folder = check_writable_dir(out / conv / ("population" if ds == "population" else f"data{int(ds):02d}"))
        write_json(folder / "config.json", {**run_cfg.to_dict(), "requested_ns": list(config.ns),
                                            "rungs": list(result["ladder"])})
        _write_tables(folder, run_cfg, result)
        write_json(folder / "refinement.json", result["refinement"])
        phase = level_switches(result["transitions"])
        diag = result["diagnostics"]
        rhat_at = dict(zip(diag["n"].values.tolist(), diag["rhat_loss"].values.tolist()))
        if "resolved" not in phase:  # not refined (refine_tol 0): no switch resolved
            phase = phase.assign(resolved=("transition", np.zeros(phase.sizes["transition"], dtype=bool)))
        names = ("from", "to", "n", "lower", "upper", "n_before", "n_after", "resolved", "predicted_n",
                 "predicted_n_laplace", "dominance")
        for values in zip(*(phase[k].values.tolist() for k in names)):
            t = dict(zip(names, values))
            for k in ("predicted_n", "predicted_n_laplace"):  # no prediction: None, as in switches.csv
                t[k] = None if np.isnan(t[k]) else t[k]
            # the copies' agreement at the rungs that bracket the switch (local, unlike `mixed`)
            t["rhat_switch"] = nanmax_or_nan([rhat_at.get(t[k], np.nan) for k in ("n_before", "n_after")])
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
    kind, after :func:`switch_stretch_rows`), with the population-loss switch (solid vertical
    line), the free-energy predictions (asymptotic: dashed; with O(1) terms: dotted) in the curve's colour and, given ``features``,
    the paper's reported switch (:func:`mark_paper_switch`); log ``n``. Readable at hundreds of
    data sets (the legend sits below the panels).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    rows = switch_stretch_rows(rows)
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
                if ref is not None and np.isfinite(_float(ref.get(key))) \
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
