"""Up-front cost estimates of the expensive subcommands, and the ``--yes`` gate.

A run whose estimate exceeds :data:`CONFIRM_ABOVE_S` (one hour) starts only with ``--yes``; every
run that can take over a minute prints its estimate first. Each model is a per-step constant
times the number of steps plus the fixed costs that dominate small runs: interpreter and engine
imports (:data:`STARTUP_S`), PyTensor/nutpie compilation, numba JIT, and for replica exchange
the rungs that ladder refinement inserts (:func:`pt_ladder`). The constants are fitted on a
2-core CPU by ``benchmarks/bench_cost.py``, which prints estimate / actual for a tiny, a quick
and a paper-scale stage; the target is a factor of 2 either way.

=============================  ==============================================================
bayes (NUTS)                   ``NUTS_COMPILE_S[backend] + len(ns) * (NUTS_RUNG_S[backend] +
                               chains * (draws + warmup) * NUTS_STEP_S[backend] / min(cores, chains))``
bayes (replica exchange)       ``PT_START_S + sum over sweeps of 0.75 * leapfrog * (PT_CALL_S +
                               PT_REPLICA_S * copies * rungs)`` over the refinement pilots and the
                               main run, plus ``PT_TARGET_S_PER_N * max(ns)`` per round
                               (:func:`pt_seconds`), ``PT_POP_REPLICA_S`` for the population
                               loss; plus per switch-refinement round the main run alone
                               (warm-started: no pilots, shorter warm-up, half the sweeps) on its sub-ladder
                               (:func:`refine_seconds`); a study sums its runs
sgd training                   ``SGD_START_S + epochs * steps_per_epoch * (SGD_STEP_S + runs *
                               SGD_RUN_STEP_S)``
sgd LLC                        ``runs * checkpoints * chains * draws * SGLD_DRAW_S``
free-energy (SMC)              ``SMC_START_S + sum over ns of runs * (SMC_RUN_S + smc_stages(n beta) *
                               mutation_steps * particles * SMC_PARTICLE_STEP_S)``, shared among
                               the workers (:func:`smc_seconds`)
llc (per phase x n x method)   NUTS: ``LLC_NUTS_COMPILE_S + chains * (draws + warmup) *
                               LLC_NUTS_STEP_S``; SGLD: ``chains * draws * SGLD_DRAW_S``
llc --measure-phases           per phase: ``MEASURE_PHASE_S + points * MEASURE_POINT_S[family] *
                               (c / 6) ** MEASURE_POINT_C_POWER``, the latter times ``MEASURE_WALL_PASSES`` for the wall phases
                               (k <= 3), whose top-up passes usually run, plus the volume runs
                               ``repeats * MEASURE_LEVELS_PER_LLC * lambda * mh_steps *
                               MEASURE_VOLUME_STEP_S * c^2``; only the parts not stored
                               (:func:`measure_seconds`)
=============================  ==============================================================
"""

from __future__ import annotations

__all__ = ["CONFIRM_ABOVE_S", "bayes_seconds", "pt_seconds", "study_parts", "pt_sweep_seconds", "pt_ladder", "predicted_switches",
           "refine_seconds", "sgd_seconds", "llc_seconds",
           "smc_seconds", "smc_stages", "measure_seconds", "format_duration", "confirm"]

import math
import sys
from typing import Any, Iterable, Sequence, TextIO

from .errors import InputError

#: runs estimated above this many seconds need ``--yes``
CONFIRM_ABOVE_S = 3600.0
#: seconds of a command before its first step: interpreter, numpy/xarray/PyMC or torch imports
STARTUP_S = 4.0

# -- NUTS (bayes --sampler nuts) ------------------------------------------------------------------
#: seconds per NUTS step of one chain on one core (draw or tuning step), by back-end
NUTS_STEP_S = {"nutpie": 2.5e-4, "pymc": 8e-3}
#: compiling the model once (PyTensor C code / nutpie's numba functions), by back-end
NUTS_COMPILE_S = {"nutpie": 10.0, "pymc": 4.0}
#: per rung: starting the sampler, its processes, classification, bootstrap and files
NUTS_RUNG_S = {"nutpie": 1.0, "pymc": 1.5}

# -- replica exchange (bayes --sampler pt) ---------------------------------------------------------
# The PT constants live here together, so that they can be refitted in one place when the
# sampler gets faster (``benchmarks/bench_cost.py`` prints the ratios to refit them from). Refitted
# for the compiled kernel (bayes_tms.pt_kernel) to `python benchmarks/bench_cost.py --scales
# quick,paper --stages bayes_pt`: 11 s and 32 s of CPU for the quick and paper presets, which these
# constants estimate at 10 s and 36 s.
#: per leapfrog step: the fixed cost of a sweep's compiled trajectory call and its bookkeeping
PT_CALL_S = 1.5e-4
#: per leapfrog step and replica (copy x rung)
PT_REPLICA_S = 2.2e-6
#: per leapfrog step and replica on the population loss, by the compiled kernel
#: (bayes_tms.pt_kernel, issue 22; numpy's closed-form gradient needed 9.5e-6): one thread,
#: 8 copies, the paper ladder (21 rungs, c = 6) with 300 + 600 sweeps took 4.7 s of CPU against
#: 13.1 s with kernel="numpy" (this constant estimates 5.7 s); per replica the compiled gradient
#: costs 0.11x (c = 6) and 0.13x (c = 8) of numpy's (`python benchmarks/bench_pt.py kernel
#: --population --features 6`), about half the data sets' kernel
PT_POP_REPLICA_S = 8e-7
#: once per PT run: data stream, nested one-hot summaries, output files
PT_START_S = 1.0
#: per refinement round and main run: building the ladder's target (nested one-hot summaries of
#: the data stream), per sample of the largest n (1.4 s at n = 1e6)
PT_TARGET_S_PER_N = 1.5e-6
#: a neighbour pair of rungs whose log(n_b / n_a) exceeds this swaps below ``min_swap_accept = 0.2``
#: (the ladders that refinement produced: log spacing 0.30 to 0.43 between 100 and 1e6)
PT_LOG_SPACING = 0.35
#: one more refinement round per this many rungs of the final ladder (100 -> 1e5: 18 rungs in 6
#: rounds, one more than the halvings; 100 -> 1e6: 32 rungs in 9 rounds, three more)
PT_RUNGS_PER_EXTRA_ROUND = 10

# -- SGD ensemble, SGLD ----------------------------------------------------------------------------
#: seconds per optimiser step of a batched SGD ensemble, fixed part and per run
SGD_STEP_S = 1.2e-4
SGD_RUN_STEP_S = 2e-6
#: torch import, data, checkpoint labelling and figures of an SGD job
SGD_START_S = 5.0
#: seconds per SGLD draw of one chain at one checkpoint
SGLD_DRAW_S = 3e-6

# -- LLC -------------------------------------------------------------------------------------------
#: seconds per NUTS step of one chain of the localised LLC sampler, and its compilation
LLC_NUTS_STEP_S = 5e-3
LLC_NUTS_COMPILE_S = 15.0
#: defaults of :func:`comparisons.jobs.llc_accuracy.llc_estimate` (chains, draws, warmup) by method
LLC_DEFAULTS = {"nuts": (4, 1000, 1000), "sgld": (32, 8000, 0)}
#: ``llc --measure-phases``: seconds per grid point of m (NUTS, 2 chains x 700 steps, compilation
#: included) by phase family (k >= 4: the 4-, 5- and 6-gons; k <= 3: the wall phases, whose
#: chains mix slowly) at c = 6, fitted to the per-point wall times recorded in
#: comparisons/theory/data/llc_measured_c*.json; at c features times ``(c / 6) ** 2.5`` (the loss
#: sums over feature pairs and the trajectories lengthen with the dimension: c = 7 and 8 `3--`
#: took 6593 and 7436 s, two tables at a time, against 3310 and 4620 estimated)
MEASURE_POINT_S = {"kgon": 30.0, "wall": 180.0}
MEASURE_POINT_C_POWER = 2.5
#: the wall phases' NUTS passes in all, first pass = 1 (their top-up rounds: 1 or 2 more, smaller)
MEASURE_WALL_PASSES = 2.5
#: per phase: the neighbourhood search and the set-up (the search itself takes about 1 s)
MEASURE_PHASE_S = 5.0
MEASURE_POINTS = 5
#: volume scaling: seconds per Metropolis step of 1000 particles at one level, per feature squared
#: (the batched loss sums over feature pairs), and the levels per unit of the coefficient (log V
#: falls by log 2 per level down to eps = 1e-7: the stored curves hold 20 to 28 levels per unit);
#: fitted to the re-measured tables at 240 steps (c = 6 `4`: 424 s, c = 8 `4`: 1096 s, three
#: repeats, two tables at a time on 2 cores)
MEASURE_VOLUME_STEP_S = 1.1e-4
MEASURE_LEVELS_PER_LLC = 23.0

# -- SMC -------------------------------------------------------------------------------------------
#: seconds per MH mutation step of one SMC particle: fitted (least squares, no per-run term) to the
#: 38 stored task times of three SMC ladders (c = 8, paper: 500 particles x 100 steps, n 100 to
#: 10000; c = 6, quick: 200 x 50, n 150 to 1200, twice), every task within 0.67x to 1.34x
SMC_PARTICLE_STEP_S = 1.5e-5
#: tempering stages of one SMC run at effective sample size ``m = n beta``:
#: ``max(SMC_STAGES_MIN, SMC_STAGES_PER_LOG * log(m) + SMC_STAGES_AT_1)``, the stage counts those
#: ladders recorded (8 at m = 50 to 75, 15 at 600, 23 at 5000; the same at c = 6 and 8)
SMC_STAGES_PER_LOG = 3.3
SMC_STAGES_AT_1 = -5.6
SMC_STAGES_MIN = 3
#: per SMC run (model set-up) and once per command
SMC_RUN_S = 0.3
SMC_START_S = 3.0


def bayes_seconds(config: Any) -> float:
    """Estimated seconds of a NUTS ladder (a :class:`bayes_tms.BayesConfig`), compilation included."""
    backend = config.backend if config.backend in NUTS_STEP_S else "pymc"
    chain_steps = config.chains * (config.draws + config.warmup)
    per_rung = NUTS_RUNG_S[backend] + chain_steps * NUTS_STEP_S[backend] / max(1, min(config.cores, config.chains))
    return STARTUP_S + NUTS_COMPILE_S[backend] + len(config.ns) * per_rung


def pt_ladder(ns: Sequence[int], min_swap_accept: float = 0.2, max_rungs: int = 64) -> list[int]:
    """Predicted number of rungs in each round of ladder refinement (the last: the final ladder).

    Refinement (:func:`bayes_tms.pt.refine_ladder`) bisects every neighbour pair that swaps too
    rarely, in log n, until each accepts at least ``min_swap_accept``: a pair ``(a, b)`` ends as
    about ``2^round(log2(log(b/a) / PT_LOG_SPACING))`` segments, reached after as many halvings,
    and one last pilot round confirms the ladder; a long ladder takes one more round per
    :data:`PT_RUNGS_PER_EXTRA_ROUND` rungs (pairs near the threshold split again). Without
    refinement: one entry, ``len(ns)``.
    """
    ns = sorted(int(n) for n in ns)
    if len(ns) < 2 or min_swap_accept <= 0:
        return [len(ns)]
    halvings = [max(0, round(math.log2(max(math.log(b / a), 1e-12) / PT_LOG_SPACING))) for a, b in zip(ns, ns[1:])]
    rounds = []
    for r in range(max(halvings) + 1):
        rungs = 1 + sum(2 ** min(r, h) for h in halvings)
        rounds.append(min(rungs, max_rungs))
    # a long ladder has pairs near the threshold that fail one more pilot and are split again
    return rounds + [rounds[-1]] * ((rounds[-1] - 1) // PT_RUNGS_PER_EXTRA_ROUND)


def pt_sweep_seconds(sweeps: int, copies: int, rungs: int, leapfrog: int, *, replica_s: float = PT_REPLICA_S) -> float:
    """Seconds of ``sweeps`` PT sweeps of ``copies`` x ``rungs`` replicas (HMC with on average three
    quarters of ``leapfrog`` steps, then swaps), by the compiled kernel (``replica_s``: per replica
    and leapfrog step; :data:`PT_POP_REPLICA_S` for the population loss's compiled kernel)."""
    return sweeps * 0.75 * leapfrog * (PT_CALL_S + replica_s * copies * rungs)


def _run_seconds(config: Any, *, warm: int | None = None, kept: float = 1.0) -> float:
    """Seconds of one PT run (start-up excluded): refinement pilots on the growing ladder, then the
    main run on the refined one. ``warm``: a switch-refinement round instead
    (:func:`comparisons.jobs.bayes_pt.round_config`), warm-started with this many warm-up sweeps
    at most and no pilots, on ``config.ns`` with the rungs the first run's pilots added there,
    keeping the fraction ``kept`` of the run's sweeps."""
    rounds = pt_ladder(config.ns, config.min_swap_accept, config.max_rungs)
    replica_s = PT_POP_REPLICA_S if config.population else PT_REPLICA_S

    def sweeps_s(n_sweeps: int, rungs: int) -> float:
        return pt_sweep_seconds(n_sweeps, config.copies, rungs, config.leapfrog, replica_s=replica_s)

    target_s = 0.0 if config.population else PT_TARGET_S_PER_N * max(config.ns)
    seconds = PT_START_S + target_s
    if warm is not None:
        return seconds + sweeps_s(min(config.warmup, warm) + math.ceil(config.sweeps * kept), rounds[-1])
    if len(rounds) > 1 or (len(config.ns) > 1 and config.min_swap_accept > 0):
        seconds += sum(target_s + sweeps_s(config.pilot_warmup + config.pilot_sweeps, r) for r in rounds)
    return seconds + sweeps_s(config.warmup + config.sweeps, rounds[-1])


def predicted_switches(config: Any, beta: float | None = None) -> list[float]:
    """Where a run's switches of the leading phase are expected, for the refinement estimate.

    The boundaries of the asymptotic dominant phases (:func:`comparisons.theory.dominant_intervals`)
    at ``beta`` (default: the run's), each moved to the geometric mean with its crossing with the
    O(1) terms (:func:`comparisons.theory.laplace_crossing`) where there is one, those inside the
    ladder:
    the measured 5 -> 6 switches of the quick preset (c = 6, seeds 0-2: 280-300 at beta = 1, 680-730
    at beta = 1/2) lie between the two predictions (225 and 601; 450 and 1202), near that mean (368,
    735). Empty for a one-rung ladder or a model other than ``hidden = 2``.
    """
    from .theory import dominant_intervals, enumerate_phases, laplace_crossing

    ns = sorted(config.ns)
    if len(ns) < 2 or config.hidden != 2:
        return []
    beta = config.beta if beta is None else beta
    phases = enumerate_phases(config.features)
    by = {p.label: p for p in phases}
    # past the ladder's end too: an asymptotic crossing beyond it may move inside
    iv = dominant_intervals(phases, n_min=ns[0], n_max=4 * ns[-1], prior_sigma=config.prior_sigma, beta=beta)
    out = []
    for a, b in zip(iv[:-1], iv[1:]):
        n = float(a["n_to"])
        o1 = laplace_crossing(by[a["phase"]], by[b["phase"]], prior_sigma=config.prior_sigma, beta=beta)
        n = math.sqrt(n * o1) if o1 else n
        if ns[0] < n < ns[-1]:
            out.append(n)
    return out


def refine_seconds(config: Any, refine_tol: float, refine_rounds: int, beta: float | None = None) -> float:
    """Seconds the switch refinement adds to one PT run (start-up excluded).

    The rounds as :func:`bayes_tms.occupancy.refine_switches` runs them
    (:func:`comparisons.theory.ladder.refinement_rounds`) for switches at
    :func:`predicted_switches`: each round is one warm-started PT run without pilots and with
    fewer sweeps (:func:`comparisons.jobs.bayes_pt.round_config`) on its sub-ladder, the inserted rungs with
    their bracket and the first run's rungs below (those its pilots added counted by
    :func:`pt_ladder`). A switch that stays in its bracket takes one round at the paper ladder's
    spacing (every rung it needs at once, at most ``REFINE_INSERT``), two at the quick preset's;
    the model counts every predicted switch to 2% (a switch bracketed within its interval needs
    no round), so it errs on the dear side, and none that moves (another round).
    """
    from .jobs.bayes_pt import REFINE_INSERT, REFINE_SWEEPS, REFINE_WARMUP
    from .theory.ladder import refinement_rounds

    if refine_tol <= 0 or refine_rounds <= 0:
        return 0.0
    import dataclasses

    ladders = refinement_rounds(config.ns, predicted_switches(config, beta), tol=refine_tol,
                                max_rounds=refine_rounds, max_insert=REFINE_INSERT)
    return sum(_run_seconds(dataclasses.replace(config, ns=tuple(sub)), warm=REFINE_WARMUP, kept=REFINE_SWEEPS)
               for sub in ladders)


def pt_seconds(config: Any, study: Any | None = None, *, workers: int | None = None,
               scheduler: str | None = None, executor: str | None = None, refine_tol: float | None = None,
               refine_rounds: int | None = None, stored: Iterable[tuple[str, str]] = ()) -> float:
    """Estimated seconds of a replica-exchange job (:class:`bayes_tms.pt.PTConfig`, and for a switch
    study its :class:`comparisons.jobs.bayes_pt.SwitchStudyConfig`).

    One run: refinement pilots on the growing ladder, then the main run on the refined one, then
    its switch refinement (:func:`refine_seconds`; ``refine_tol``, ``refine_rounds``: one run's,
    default :data:`~comparisons.jobs.bayes_pt.REFINE_TOL` and ``REFINE_ROUNDS``, ``refine_tol=0``:
    none). A study over data sets runs that for every data set and convention (its own refinement
    settings) and divides by its ``workers``: as the sweep runner resolves them
    (:func:`comparisons.sweep.run_sweep`): one for ``executor="inline"``, else ``workers`` or, when
    not given, the usable CPU cores for a process pool or a local Dask cluster (one where neither
    executor nor scheduler is given, the in-process default of
    :func:`~comparisons.jobs.bayes_pt.run_pt_study`, and for a remote scheduler, whose size is not
    known here). ``stored``: the study's ``(convention, dataset)`` runs already stored
    (:func:`comparisons.jobs.bayes_pt.stored_study_runs`), which are read back, not counted.
    """
    if study is not None:
        return STARTUP_S + _study_seconds(config, study, workers, scheduler, executor, stored=stored)
    from .jobs.bayes_pt import REFINE_ROUNDS, REFINE_TOL

    tol = REFINE_TOL if refine_tol is None else refine_tol
    rounds = REFINE_ROUNDS if refine_rounds is None else refine_rounds
    return STARTUP_S + _run_seconds(config) + refine_seconds(config, tol, rounds)


def study_parts(config: Any, study: Any, stored: Iterable[tuple[str, str]] = ()) -> dict[str, float]:
    """Seconds of a switch study's work on one worker, by kind: ``"data-set runs"``,
    ``"population runs"``, ``"data-set refinement"``, ``"population refinement"`` (per convention,
    its data sets and its population run, each refined as one run is: :func:`refine_seconds` at the
    convention's beta; start-up excluded), leaving out the ``stored`` ``(convention, dataset)``
    runs (``dataset``: ``"0"``, ``"1"``, ... or ``"population"``)."""
    import dataclasses

    from .jobs.bayes_pt import CONVENTIONS

    stored = set(stored)
    parts = dict.fromkeys(("data-set runs", "population runs", "data-set refinement", "population refinement"), 0.0)
    for conv in study.conventions:
        beta = CONVENTIONS.get(conv, config.beta)
        todo = sum((conv, str(k)) not in stored for k in range(study.datasets))
        runs = [(False, todo)] + ([(True, 1)] if study.population and (conv, "population") not in stored else [])
        for population, count in runs:
            cfg = dataclasses.replace(config, beta=beta, population=population)
            kind = "population" if population else "data-set"
            parts[f"{kind} runs"] += count * _run_seconds(cfg)
            parts[f"{kind} refinement"] += count * refine_seconds(cfg, study.refine_tol, study.refine_rounds)
    return parts


def _study_seconds(config: Any, study: Any, workers: int | None, scheduler: str | None,
                   executor: str | None = None, stored: Iterable[tuple[str, str]] = ()) -> float:
    """Seconds of a switch study (:func:`comparisons.jobs.bayes_pt.run_pt_study`), start-up excluded:
    :func:`study_parts` of the runs not ``stored``, shared among the workers (see :func:`pt_seconds`)."""
    runs = {(conv, str(k)) for conv in study.conventions for k in range(study.datasets)}
    runs |= {(conv, "population") for conv in study.conventions} if study.population else set()
    stored = set(stored) & runs  # the study's own runs only
    total = sum(study_parts(config, study, stored).values())
    n_runs = len(runs) - len(stored)
    # a stored run is read back and its tables written again: about PT_START_S (18 c = 8 runs: 17 s)
    return total / min(_slots(workers, scheduler, executor), max(n_runs, 1)) + PT_START_S * len(stored)


def _slots(workers: int | None, scheduler: str | None, executor: str | None) -> int:
    """How many tasks the sweep runner runs at once (:func:`comparisons.sweep.run_sweep`): one
    in-process, else ``workers`` or, when not given, the usable CPU cores for a process pool or a
    local Dask cluster; one where neither executor nor scheduler is given (a command's in-process
    default), and for a remote scheduler whose size is not known here, ``workers`` or one."""
    if executor == "inline" and scheduler is None:
        return 1
    if workers is None and (scheduler == "local" or (scheduler is None and executor is not None)):
        from .sweep import default_workers

        workers = default_workers()
    return max(int(workers or 1), 1)


def sgd_seconds(train_config: Any, llc_config: Any | None = None) -> float:
    """Estimated seconds of an SGD ensemble (:class:`sgd_tms.config.TrainConfig`) and its LLC."""
    tc = train_config
    steps = tc.epochs * tc.steps_per_epoch
    seconds = STARTUP_S + SGD_START_S + steps * (SGD_STEP_S + tc.runs * SGD_RUN_STEP_S)
    if llc_config is not None:
        seconds += tc.runs * len(tc.checkpoint_epochs()) * llc_config.chains * llc_config.draws * SGLD_DRAW_S
    return seconds


def llc_seconds(tasks: Iterable[Any]) -> float:
    """Estimated seconds of the LLC tasks of :func:`comparisons.jobs.llc_accuracy.llc_tasks`."""
    total = STARTUP_S
    for task in tasks:
        cfg = getattr(task, "config", task)
        method = cfg.get("method", "sgld")
        chains, draws, warmup = LLC_DEFAULTS.get(method, LLC_DEFAULTS["sgld"])
        chains = cfg.get("chains") or chains
        draws = cfg.get("draws") or draws
        warmup = cfg.get("warmup") if cfg.get("warmup") is not None else warmup
        if method == "nuts":
            total += LLC_NUTS_COMPILE_S + chains * (draws + warmup) * LLC_NUTS_STEP_S
        else:
            total += chains * draws * SGLD_DRAW_S
    return total


def measure_seconds(c: int, labels: Sequence[str], points: int = MEASURE_POINTS, *,
                    parts: dict[str, Sequence[str]] | None = None, volume: dict | None = None,
                    volume_repeats: int | None = None) -> float:
    """Estimated seconds of ``llc --measure-phases`` for the phases ``labels`` of ``c`` features.

    Per phase: the search (:data:`MEASURE_PHASE_S`); the NUTS curve at ``points`` values of m, for
    the wall phases (k <= 3) ``MEASURE_WALL_PASSES`` times for their usual top-up passes; and the
    volume scaling, ``volume_repeats`` runs of about ``MEASURE_LEVELS_PER_LLC * lambda`` levels of
    ``mh_steps`` Metropolis steps (``lambda``: the exact, shipped or bound coefficient).

    Parameters
    ----------
    c : int
        Features.
    labels : sequence of str
        The phases to measure (those with nothing left to compute may be left out).
    points : int
        Grid points of m.
    parts : dict, optional
        ``label -> parts`` still to compute among ``search``, ``nuts``, ``volume``
        (:func:`bayes_tms.llc.stale_parts`: a stored record whose volume settings changed costs
        its volume runs only); default: every part of every label.
    volume : dict, optional
        The volume settings (``particles``, ``mh_steps``); default: those of
        :data:`bayes_tms.llc.MEASURE_DEFAULTS`, as recorded in the shipped tables.
    volume_repeats : int, optional
        Volume runs per phase (default 3, as in the shipped tables).

    Returns
    -------
    float
        Seconds on 2 cores; 0 when nothing is left to compute.
    """
    from .theory import enumerate_phases

    volume = {"particles": 1000, "mh_steps": 240, **(volume or {})}
    repeats = 3 if volume_repeats is None else int(volume_repeats)
    phases = {p.label: p for p in enumerate_phases(c)}
    total = 0.0
    for label in labels:
        todo = ("search", "nuts", "volume") if parts is None else tuple(parts.get(label, ()))
        k = int("".join(ch for ch in label if ch.isdigit()) or 0)
        family = "kgon" if k >= 4 else "wall"
        p = phases.get(label)
        lam = next((v for v in (p.llc, p.llc_measured, p.llc_bound) if v is not None), 1.0) if p else 1.0
        total += MEASURE_PHASE_S if "search" in todo else 0.0
        if "nuts" in todo:
            total += (points * MEASURE_POINT_S[family] * (c / 6) ** MEASURE_POINT_C_POWER
                      * (1 if family == "kgon" else MEASURE_WALL_PASSES))
        if "volume" in todo:
            total += (repeats * MEASURE_LEVELS_PER_LLC * lam * volume["mh_steps"] * volume["particles"] / 1000
                      * MEASURE_VOLUME_STEP_S * c * c)
    return total + (STARTUP_S if total else 0.0)


def smc_stages(n: float, beta: float = 1.0) -> float:
    """Tempering stages of one SMC run at sample size ``n`` and inverse temperature ``beta``.

    The adaptive schedule (ESS threshold 1/2) takes more stages as the posterior narrows: about
    ``3.3 log(n beta)`` (:data:`SMC_STAGES_PER_LOG`), the same at c = 6 and 8.
    """
    return max(SMC_STAGES_MIN, SMC_STAGES_PER_LOG * math.log(max(n * beta, 1.0)) + SMC_STAGES_AT_1)


def smc_seconds(ns: Sequence[float], particles: int, runs: int, mutation_steps: int, *, beta: float = 1.0,
                workers: int | None = None, scheduler: str | None = None, executor: str | None = "inline") -> float:
    """Estimated seconds of the SMC free-energy ladder: one task per sample size of ``ns``, each
    ``runs`` runs of :func:`smc_stages` tempering stages of ``mutation_steps`` MH steps of every
    particle, shared among the workers as the sweep runner resolves them (:func:`_slots`; the
    default executor of ``free-energy`` is in-process, one task at a time)."""
    tasks = [runs * (SMC_RUN_S + smc_stages(n, beta) * mutation_steps * particles * SMC_PARTICLE_STEP_S)
             for n in ns]
    return STARTUP_S + SMC_START_S + sum(tasks) / min(_slots(workers, scheduler, executor), max(len(tasks), 1))


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min"``, ``"3.4 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def confirm(seconds: float, what: str, yes: bool, file: TextIO | None = None) -> None:
    """Print the estimate; raise InputError if it exceeds one hour and ``yes`` is False.

    Parameters
    ----------
    seconds : float
        Estimated cost.
    what : str
        What is estimated, e.g. ``"8 n x 4 chains x 3000 steps (nutpie)"``.
    yes : bool
        The user's ``--yes``.
    """
    file = sys.stderr if file is None else file
    text = format_duration(seconds)
    print(f"estimated cost: about {text} for {what} (within about 2x on 2 cores; stored results are "
          "reused)", file=file)
    if seconds > CONFIRM_ABOVE_S and not yes:
        raise InputError(f"--yes: expected for a run estimated at about {text} (over 1 h: {what}); "
                         f"add --yes to start it, or make it smaller")
