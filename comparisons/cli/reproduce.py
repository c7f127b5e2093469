"""``tms-phases reproduce``: theory, Bayesian sweep, the paper's Figure 2, SGD ensemble with LLCs, one report.

Each stage writes into its own folder under ``--out`` (``theory/``, ``bayes/``, ``figure2/``, ``sgd/``). A stage
is a configuration (:class:`bayes_tms.BayesConfig`, :class:`bayes_tms.PTConfig`,
:class:`sgd_tms.TrainConfig` with :class:`sgd_tms.LLCConfig`) built from :data:`PRESETS` and run
by the same functions the engine commands call; every configuration is built, and so checked,
before the first stage starts. The jobs resume: a re-run with the same folder reuses every
finished posterior (one file per n) and an intact SGD trajectory whose configuration matches, so
only the tables, figures and the report are recomputed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from ..config_file import DefaultsHelpFormatter
from ..errors import InputError
from .flags import FlagTable, parse_features, problem_flags


@dataclass(frozen=True)
class Stage:
    """One stage of a reproduction: which job, from which preset, with which config fields.

    Attributes
    ----------
    job : {"nuts", "pt", "smc", "figure2", "sgd"}
        The NUTS ladder (:func:`comparisons.jobs.bayes.run_bayes`), replica exchange
        (:mod:`comparisons.jobs.bayes_pt`), SMC on the same ladder and data
        (:func:`comparisons.jobs.free_energy.free_energy_job`, with the ``bayes`` stage's folder
        as its ``--bayes-dir``; a preset's ladder is the NUTS preset's), the paper's Figure 2 and
        the estimators side by side from the Bayesian stages' folders (:mod:`comparisons.jobs.figure2`;
        samples nothing) or the SGD ensemble (:mod:`comparisons.jobs.sgd`).
    preset : str or None
        The engine's preset the fields go on top of.
    fields : dict
        Config fields (BayesConfig, PTConfig or TrainConfig); ``features`` and ``seed`` come from
        the ``reproduce`` flags.
    llc : dict
        LLCConfig fields (``sgd`` only).
    options : dict
        The switch study beside the PT config (``datasets``, ``conventions``: fields of
        :class:`comparisons.jobs.configs.SwitchStudyConfig`; the population run is the config's
        ``population``);
        for ``figure2``: the stages of its panels (``panels``: a, b, c) and of the compared
        estimators (``estimators``: name -> stage).
    """

    job: str
    preset: str | None = None
    fields: dict = field(default_factory=dict)
    llc: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)


#: the study over data sets and conventions (paper preset): both named likelihood conventions,
#: 8 data sets each, and the population loss
STUDY = {"datasets": 8, "conventions": ("tempered", "gaussian-sigma1")}
#: the paper's likelihood convention: the Gaussian sigma = 1 observation model of the authors' NUTS
#: code is the tempered posterior at beta = 1/2 (:data:`comparisons.jobs.bayes_pt.CONVENTIONS`)
PAPER_BETA = {"beta": 0.5}
#: the figure2 stage: the stages of panels (a) NUTS by the paper's protocol, (b) replica exchange
#: at the same beta, (c) replica exchange at beta = 1; and the estimators compared at (a)'s beta
FIGURE2 = Stage("figure2", options={"panels": ("bayes", "bayes_pt_sigma1", "bayes_pt"),
                                    "estimators": {"pt": "bayes_pt_sigma1", "nuts_bridge": "bayes", "smc": "smc"}})
#: preset -> stage -> :class:`Stage`; stages run in this order. ``bayes`` is NUTS started from the
#: prior at each n under the paper's protocol (beta = 1/2, the hull classifier: the default), with
#: its raw draw fractions (Figure 2's panel a) and its ladder bridge; ``bayes_pt`` replica exchange
#: at beta = 1 (the theory's convention, which the report's occupancy section leads with; panel c),
#: ``bayes_pt_sigma1`` replica exchange at beta = 1/2 (the true posterior of the paper's
#: convention; panel b), ``smc`` SMC particles on the same ladder, data and beta as ``bayes`` (the
#: third estimator), ``figure2`` the paper's Figure 2 and the estimators side by side (samples
#: nothing), ``bayes_study`` replica exchange over many data sets and both conventions
PRESETS: dict[str, dict[str, Stage]] = {
    "quick": {"bayes": Stage("nuts", "quick", PAPER_BETA),
              "bayes_pt": Stage("pt", "quick"),
              "bayes_pt_sigma1": Stage("pt", "quick", PAPER_BETA),
              "smc": Stage("smc", "quick", {"particles": 200, "runs": 4, "mutation_steps": 50, **PAPER_BETA}),
              "figure2": FIGURE2,
              "sgd": Stage("sgd", "quick")},
    "paper": {"bayes": Stage("nuts", "paper", PAPER_BETA),
              "bayes_pt": Stage("pt", "paper"),
              "bayes_pt_sigma1": Stage("pt", "paper", PAPER_BETA),
              "smc": Stage("smc", "paper", {"particles": 500, "runs": 4, "mutation_steps": 100, **PAPER_BETA}),
              "figure2": FIGURE2,
              "bayes_study": Stage("pt", "paper", {"population": True}, options=STUDY),
              "sgd": Stage("sgd", "paper", {"runs": 100})},
    # a test-only size: seconds, exercises every stage and every file of the report
    "tiny": {"bayes": Stage("nuts", None, {"ns": (100, 200, 300), "chains": 4, "draws": 30, "warmup": 30,
                                           "backend": "pymc", "bootstrap": 50, "cores": 1, **PAPER_BETA}),
             "bayes_pt": Stage("pt", None, {"ns": (100, 200, 300), "copies": 2, "sweeps": 20, "warmup": 10,
                                            "bootstrap": 50}),
             "bayes_pt_sigma1": Stage("pt", None, {"ns": (100, 200, 300), "copies": 2, "sweeps": 20, "warmup": 10,
                                                   "bootstrap": 50, **PAPER_BETA}),
             "smc": Stage("smc", None, {"ns": (100, 200, 300), "particles": 20, "runs": 2, "mutation_steps": 2,
                                        **PAPER_BETA}),
             "figure2": FIGURE2,
             "bayes_study": Stage("pt", None, {"ns": (100, 200), "copies": 2, "sweeps": 10, "warmup": 5,
                                               "bootstrap": 20, "population": True},
                                  options={"datasets": 2, "conventions": ("tempered", "gaussian-sigma1")}),
             "sgd": Stage("sgd", "smoke", {"runs": 3, "epochs": 20, "checkpoint_every": 5},
                          llc={"draws": 20, "chains": 2})},
}
#: which --skip flag leaves a stage out
SKIP = {"bayes": "skip_bayes", "bayes_pt": "skip_bayes", "bayes_pt_sigma1": "skip_bayes", "smc": "skip_bayes",
        "figure2": "skip_bayes", "bayes_study": "skip_bayes", "sgd": "skip_sgd"}


def _preset(value: str) -> str:
    if value not in PRESETS:
        raise InputError(f"--preset: expected one of quick, paper (or tiny, for tests), got {value!r}")
    return value


def check_covered(features: int) -> None:
    """Refuse a number of features that some preset table does not cover (one line naming the range)."""
    covered = preset_features()
    if features not in covered:
        raise InputError(f"--features: expected c from {covered[0]} to {covered[-1]} (the c the presets cover), "
                         f"got {features}")


def _covered_features(text: str) -> int:
    """``--features`` of reproduce: the one rule (:func:`~comparisons.cli.flags.parse_features`), then
    the presets' coverage, so that a bad c names the range reproduce runs at."""
    try:
        c = parse_features(text)
    except InputError:
        c = -1
    if c < 0:
        covered = preset_features()
        raise InputError(f"--features: expected c from {covered[0]} to {covered[-1]} (the c the presets cover), "
                         f"got {text!r}")
    check_covered(c)
    return c


def preset_features() -> tuple[int, ...]:
    """The numbers of features every preset table covers (NUTS and SMC ladders, replica exchange,
    the SGD protocol): the ``c`` that ``reproduce`` runs at."""
    from ..jobs.configs import NUTS_PRESETS as LADDERS
    from ..jobs.configs import PT_PRESETS
    from ..jobs.sgd import PRESETS as SGD

    tables = [*LADDERS.values(), *PT_PRESETS.values(), *SGD.values()]
    return tuple(sorted(set.intersection(*(set(t) for t in tables))))


def _seed(value: str) -> int:
    try:
        s = int(value)
    except ValueError:
        s = -1
    if s < 0:
        raise InputError(f"--seed: expected a non-negative integer, got {value!r}")
    return s


@dataclass(frozen=True)
class ReproduceOptions:
    """The options of ``tms-phases reproduce`` beside ``--features`` (a preset's stages that do not
    cover the number of features refuse it, naming the flag, before any stage runs)."""

    preset: str = field(default="quick", metadata={
        "help": "quick, paper, or tiny (seconds; exercises every stage, for tests)", "parse": _preset,
        "metavar": "{" + ",".join(PRESETS) + "}"})
    out: str = field(default="tms-report", metadata={"help": "output folder", "metavar": "DIR"})
    seed: int = field(default=0, metadata={"help": "root seed of both engines", "metavar": "SEED", "parse": _seed})
    skip_bayes: bool = field(default=False, metadata={"help": "leave out the Bayesian sweep"})
    skip_sgd: bool = field(default=False, metadata={"help": "leave out the SGD ensemble"})
    no_progress: bool = field(default=False, metadata={"help": "hide the progress bars"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = DefaultsHelpFormatter
    parser.epilog = ("quick: c=6 Bayesian ladder of 9 n from 150 to 1200 (NUTS, 24 chains, by the paper's "
                     "protocol at beta = 1/2; replica exchange at beta = 1/2 and 1) and the paper's Figure 2 from "
                     "them, 32 SGD runs of the paper protocol with LLCs; a few minutes on 2 cores. paper: the full study (18 n from 100 "
                     "to 2000 with 64 chains; 100 SGD runs). Every c from 4 to 8 has its own ladders, past the "
                     "last switch the free energy predicts at each beta (tms-phases theory -c C). Writes report.md "
                     "and a self-contained "
                     "report.html into --out; re-running with the same --out reuses finished parts.")
    options = FlagTable(ReproduceOptions, defaults=True)
    features = [dataclasses.replace(f, parse=_covered_features, help="number of features c, 4 to 8 (the c every "
                                    "preset table covers; hidden dimension r = 2)") for f in problem_flags().flags]
    options.flags = options.flags[:1] + features + options.flags[1:]  # --features after --preset
    options.add_to(parser)
    from ..sweep import add_sweep_arguments

    add_sweep_arguments(parser, executor=None, executor_help=(  # forwarded to the engines when given
        "each stage's own: the NUTS ladder in this process; the switch study and the SMC ladder one "
        "task at a time, or --workers N > 1 at once in a process pool; the SGD ensemble a process pool; "
        "Dask with --scheduler/--dask-local"))
    parser.set_defaults(retries=None)


def _sweep_namespace(args: argparse.Namespace) -> SimpleNamespace:
    """The sweep flags given to ``reproduce`` (forwarded to the NUTS ladder, the switch study's runs and
    the SGD ensemble)."""
    retries = getattr(args, "retries", None)
    return SimpleNamespace(executor=getattr(args, "executor", None), workers=getattr(args, "workers", None),
                           scheduler=getattr(args, "scheduler", None),
                           dask_local=getattr(args, "dask_local", False),
                           retries=2 if retries is None else retries, no_progress=args.no_progress)


@dataclass
class Planned:
    """A stage with its configuration built: what it costs, how it runs, its command line."""

    config: Any  # BayesConfig, (PTConfig, options) or (TrainConfig, LLCConfig)
    seconds: float
    what: str
    run: Callable[[bool], Any]  # -> the job's comparisons.jobs.result.JobResult
    command: str


def _command(name: str, flags: list[tuple[str, Any]]) -> str:
    """``tms-phases NAME --flag value ...``: the engine command that runs the same configuration."""
    parts = ["tms-phases", name]
    for flag, value in flags:
        if value is True:
            parts.append(flag)
        elif value is not None and value is not False:
            parts += [flag, ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)]
    return " ".join(parts)


def plan_stage(stage: Stage, features: int, seed: int, out: Path, args: argparse.Namespace) -> Planned:
    """Build (and so validate) the configuration of ``stage`` and return how to run it."""
    from ..cost import bayes_seconds, sgd_seconds

    progress = not args.no_progress
    quiet = [("--no-progress", args.no_progress)]
    sweep = _sweep_namespace(args)
    sweep_flags = [(f"--{k.replace('_', '-')}", getattr(sweep, k)) for k in ("executor", "workers", "scheduler")]
    sweep_flags += [("--retries", getattr(args, "retries", None)), ("--dask-local", sweep.dask_local)]
    common = {"features": features, "seed": seed}
    if stage.job == "nuts":
        from .bayes import nuts_config, nuts_flags, nuts_sweep_kwargs, run_nuts

        config = nuts_config(stage.preset, **common, **stage.fields)
        kw = nuts_sweep_kwargs(sweep, note=False)  # --workers is for the other stages: --help says so
        table = nuts_flags()
        flags = [("--preset", stage.preset), *((table.flag_of(k), v) for k, v in {**stage.fields, **common}.items())]
        return Planned(config, bayes_seconds(config), "bayes",
                       lambda yes: run_nuts(config, out, progress=progress, sweep=kw, yes=yes),
                       _command("bayes", [("--sampler", "nuts"), *flags, ("--out", out), *quiet, *sweep_flags]))
    if stage.job == "pt":
        from ..cost import pt_seconds
        from .bayes import pt_config, pt_flags, pt_study, pt_sweep_kwargs, run_pt_job, study_flags

        config = pt_config(stage.preset, features, seed=seed, **stage.fields)
        study = pt_study(config, **stage.options)
        table, study_table = pt_flags(), study_flags()
        flags = [("--sampler", "pt"), ("--preset", stage.preset),
                 *((table.flag_of(k), v) for k, v in stage.fields.items()),
                 *((study_table.flag_of(k), v) for k, v in stage.options.items()),
                 *((table.flag_of(k), v) for k, v in common.items())]
        # the study's runs are sweep tasks: the sweep flags apply to them as to `bayes --datasets`
        kw = pt_sweep_kwargs(SimpleNamespace(**{**vars(sweep), "executor": sweep.executor or "inline"}), study) \
            if study is not None else {}
        return Planned((config, study), pt_seconds(config, study, **{k: kw.get(k) for k in ("workers", "scheduler",
                                                                                            "executor")}),
                       "bayes (pt)", lambda yes: run_pt_job(config, study, out, progress=progress, yes=yes, sweep=kw),
                       _command("bayes", [*flags, ("--out", out), *quiet, *(sweep_flags if study is not None else [])]))
    if stage.job == "smc":
        from ..jobs.configs import NUTS_PRESETS as LADDERS

        from ..cost import smc_seconds
        from ..sweep import pool_when_asked, sweep_kwargs
        from ..jobs.free_energy import free_energy_job
        from .free_energy import smc_config, smc_flags

        fields = dict(stage.fields)
        if stage.preset is not None:  # the NUTS preset's ladder: the estimators share their n
            fields.setdefault("ns", LADDERS[stage.preset][features]["ns"])
        config = smc_config(**fields, **common)
        bayes_dir = out.parent / "bayes"
        smc_sweep = SimpleNamespace(**vars(sweep))
        pool_when_asked(smc_sweep)  # --workers 2: two n at a time, as `free-energy --workers 2` runs it
        kw = sweep_kwargs(smc_sweep)
        table = smc_flags()
        flags = [*((table.flag_of(k), v) for k, v in {**fields, **common}.items()), ("--bayes-dir", bayes_dir)]
        return Planned(config, smc_seconds(config.ns, config.particles, config.runs, config.mutation_steps,
                                           beta=config.beta, **{k: kw.get(k) for k in ("workers", "scheduler", "executor")}),
                       "smc", lambda yes: free_energy_job(config, out, bayes_dir=bayes_dir, sweep=kw, yes=yes),
                       _command("free-energy", [*flags, ("--out", out), *quiet, *sweep_flags]))
    if stage.job == "figure2":
        from ..jobs.figure2 import compare_estimators, run_figure2

        root = out.parent
        panels = [root / name for name in stage.options["panels"]]
        estimators = {k: root / v for k, v in stage.options["estimators"].items()}
        # the command that regenerates figure2.nc: every stage it reads is reused from --out
        command = _command("reproduce", [("--preset", args.preset), ("--features", features), ("--seed", seed),
                                         ("--skip-sgd", True), ("--out", root)])

        def figure2(yes: bool):
            from ..jobs.result import recording

            with recording("figure2", out) as rec:
                run_figure2(*panels, out, preset=args.preset, command=command)
                compare_estimators(out, pt_dir=estimators.get("pt"), nuts_dir=estimators.get("nuts_bridge"),
                                   smc_dir=estimators.get("smc"))
            return rec.result()

        return Planned(stage.options, 5.0, "figure2", figure2, command)
    if stage.job == "sgd":
        from ..sweep import sweep_kwargs
        from ..jobs.sgd import run_ensemble
        from .sgd import llc_flags, sgd_configs, train_flags

        tc, lc = sgd_configs(stage.preset or "paper", {**stage.fields, **common}, dict(stage.llc))
        kw = sweep_kwargs(SimpleNamespace(**{**vars(sweep), "executor": sweep.executor or "auto"}))
        kw.pop("progress")
        train, llc = train_flags(), llc_flags()
        flags = [("--preset", stage.preset), *((train.flag_of(k), v) for k, v in stage.fields.items()),
                 *((llc.flag_of(k), v) for k, v in stage.llc.items()),
                 *((train.flag_of(k), v) for k, v in common.items())]
        return Planned((tc, lc), sgd_seconds(tc, lc), "sgd",
                       lambda yes: run_ensemble(tc, lc, out, progress=progress, sweep=kw, yes=yes),
                       _command("sgd", [*flags, ("--out", out), *quiet, *sweep_flags]))
    raise InputError(f"stage: expected a job nuts, pt, smc, figure2 or sgd, got {stage.job!r}")


def plan(args: argparse.Namespace) -> dict[str, Planned]:
    """Every stage of this run (skipped ones left out), its configuration built and checked.

    Without this a bad SGD setting would only surface after the whole Bayesian sweep. The number
    of features must be one the Bayesian presets cover (every preset's stages run at it).
    """
    check_covered(args.features)
    out = Path(args.out)
    return {name: plan_stage(stage, args.features, args.seed, out / name, args)
            for name, stage in PRESETS[args.preset].items() if not getattr(args, SKIP[name])}


def run(args: argparse.Namespace) -> int:
    """Run every stage into its folder under ``--out`` and write the report; the exit status.

    ``--out`` is owned by ``reproduce`` (:func:`comparisons.folder.owned_folder`), each stage's
    folder by its job; the folders of stages skipped this time are kept.
    """
    from ..cost import confirm
    from ..folder import keep, owned_folder
    from ..io import check_out_path

    stages = plan(args)  # every stage's configuration checked before the folder is made
    check_out_path(args.out)
    stored = finished_stages(args.out, stages)
    what = " + ".join(stages) + " stages" + (f" ({', '.join(stored)} stored, not counted)" if stored else "")
    # confirmed once for the whole run, before the folder is claimed: a refusal leaves nothing behind
    confirm(sum(p.seconds for k, p in stages.items() if k not in stored), what, getattr(args, "yes", False))
    config = {"preset": args.preset, "features": args.features, "seed": args.seed,
              "skip_bayes": args.skip_bayes, "skip_sgd": args.skip_sgd}
    with owned_folder(args.out, "reproduce", config=config) as folder:
        status = _run(args, stages)
        if status == 0:
            for name in {n for stages in PRESETS.values() for n in stages} | {"theory"}:
                if (folder.root / name).is_dir():
                    keep(folder.root / name)
            if (folder.root / STAGES_FILE).is_file():  # a run that skipped every stage keeps the record
                keep(folder.root / STAGES_FILE)
            folder.finish()
    return status


#: ``{stage: {"key", "config_hash"}}`` of the stages a reproduction in this folder finished, so that
#: a rerun's estimate leaves them out (:func:`finished_stages`)
STAGES_FILE = "stages.json"
#: flags of a stage's command that do not change its results (how and where it runs): value count
_RUN_FLAGS = {"--no-progress": 0, "--dask-local": 0, "--yes": 0, "--workers": 1, "--executor": 1, "--scheduler": 1,
              "--retries": 1, "--out": 1}


def _stage_key(command: str) -> str:
    """``command`` without the flags that only say how and where it runs (:data:`_RUN_FLAGS`)."""
    words, out, skip = command.split(), [], 0
    for w in words:
        if skip:
            skip -= 1
        elif w in _RUN_FLAGS:
            skip = _RUN_FLAGS[w]
        else:
            out.append(w)
    return " ".join(out)


def _read_stages(root: Path) -> dict:
    """The records of ``root/stages.json`` (empty when it is missing or unreadable)."""
    try:
        done = json.loads((root / STAGES_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return done if isinstance(done, dict) else {}


def _stage_record(out: Path, name: str, planned: Planned) -> dict:
    """What ``stages.json`` keeps of a finished stage: its command's key and its folder's config hash."""
    from ..folder import read_owner

    return {"key": _stage_key(planned.command), "config_hash": (read_owner(out / name) or {}).get("config_hash")}


def finished_stages(out: str | Path, stages: dict[str, Planned]) -> list[str]:
    """The stages of ``stages`` that an earlier run in ``out`` finished with the same settings.

    A stage counts when ``out/stages.json`` records its command (:attr:`Planned.command`, which
    names every setting of the stage, without the flags that only say how it runs:
    ``--workers``, ``--no-progress``, ...) and its folder's owner record (:mod:`comparisons.folder`)
    says ``finished`` with the configuration hash recorded then (a folder rerun by hand with other
    settings does not count). For the estimate only: the jobs themselves decide what they reuse (a
    changed code version can still recompute a stage counted here).
    """
    from ..folder import read_owner

    root = Path(out)
    done = _read_stages(root)
    found = []
    for name, planned in stages.items():
        owner, rec = read_owner(root / name) or {}, done.get(name)
        if (isinstance(rec, dict) and owner.get("status") == "finished"
                and rec == {"key": _stage_key(planned.command), "config_hash": owner.get("config_hash")}):
            found.append(name)
    return found


def _run(args: argparse.Namespace, stages: dict[str, Planned]) -> int:
    from ..compare import bayes_moves, switch_lines
    from ..contracts import level_switches
    from ..io import check_writable_dir, write_json, write_text
    from ..report import load_bayes, write_report
    from ..theory import crossings, dominant_intervals, enumerate_phases

    out = check_writable_dir(args.out)
    timings: dict[str, float] = {}  # seconds of computation behind each stage's results
    this_run: dict[str, float] = {}  # seconds this call spent (small when results were reused)
    cached: list[str] = []  # stages whose results (some or all) were computed by an earlier run
    results: dict = {}  # stage -> its job's JobResult
    t0 = time.perf_counter()
    phases = enumerate_phases(args.features)
    theory = {"features": args.features, "phases": [p.to_dict() for p in phases],
              "crossings": crossings(phases, 1e6), "dominant": dominant_intervals(phases, 10, 1e6)}
    write_json(out / "theory" / "theory.json", theory)
    timings["theory"] = time.perf_counter() - t0
    for stage, planned in stages.items():
        print(f"== {stage}: {planned.command}", file=sys.stderr)
        t0 = time.perf_counter()
        try:
            result = planned.run(True)  # confirmed once for the whole run; a JobResult
            status = result.status
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            result, status = None, 2
        results[stage] = result
        this_run[stage] = time.perf_counter() - t0
        timings[stage] = result.seconds if result is not None and result.cached else this_run[stage]
        if result is not None and result.cached:
            cached.append(stage)
        if status != 0:
            print(f"error: the {stage} stage failed (exit {status}); finished parts are kept in {out}",
                  file=sys.stderr)
            return status
        write_json(out / STAGES_FILE, {**_read_stages(out), stage: _stage_record(out, stage, planned)})
    t0 = time.perf_counter()
    config = {"preset": args.preset, "features": args.features, "seed": args.seed,
              "commands": {k: p.command for k, p in stages.items()}}
    # replica exchange at beta = 1 leads the occupancy section (the default sampler, the theory's
    # convention); the figure2 stage holds the paper's Figure 2 and the estimators side by side
    primary = out / ("bayes_pt" if "bayes_pt" in stages else "bayes")
    fig2 = PRESETS[args.preset].get("figure2")
    md, html = write_report(out, args.features, primary if "bayes" in stages else None,
                            out / "sgd" if "sgd" in stages else None, config, timings,
                            cached=cached, this_run=this_run,
                            figure2_dir=out / "figure2" if "figure2" in stages else None,
                            study_dir=out / "bayes_study" if "bayes_study" in stages else None,
                            estimator_dirs=({k: out / v for k, v in fig2.options["estimators"].items()}
                                            if fig2 is not None and "figure2" in stages else None))
    timings["report"] = time.perf_counter() - t0
    write_json(out / "reproduce.json", {"config": config, "wall_seconds": timings, "cached": cached,
                                        "this_run_seconds": this_run})
    bayes = None if args.skip_bayes else load_bayes(primary)
    lines = [f"theory (c = {args.features}): dominant phases "
             + " -> ".join(f"{d['phase']} (n < {d['n_to']:.0f})" for d in theory["dominant"][-3:])]
    if "figure2" in stages:
        from ..contracts import read_figure2
        from ..figure2 import switch_table

        ds = read_figure2(out / "figure2" / "figure2.nc")
        lines.append(f"the paper's Figure 2, reproduced ({out / 'figure2' / 'figure2.png'}):")
        lines += [f"  {row[0]} {row[1]}, {row[2]}, beta = {row[3]}: switch {row[4]}; free energy predicts "
                  f"{row[5]} (asymptotic), {row[6]} (with O(1) terms)" for row in switch_table(ds)[1]]
    if bayes:
        lines.append(f"Bayesian dominant phase along n ({primary.name}, beta = {bayes['attrs'].get('beta', 1):g}): "
                     + (", ".join(f"{a} -> {b}" for a, b in bayes_moves(bayes["occupancy"])) or "no change"))
        if bayes["transitions"] is not None:
            lines += ["  " + line for line in switch_lines(level_switches(bayes["transitions"]))]
    sgd = results.get("sgd")
    if sgd is not None and "plateaus" in sgd.summary:
        s = sgd.summary
        rho = s.get("spearman_loss_llc")
        lines.append(f"SGD: {s['runs']} runs, {s['plateaus']} plateaus, Spearman(loss, LLC) = "
                     f"{'-' if rho is None else f'{rho:.3f}'}; most common path: "
                     f"{s['top_paths'][0]['path'] if s.get('top_paths') else '-'}")
    lines.append(f"report: {md} and {html} (wall: "
                 + ", ".join(f"{k} {v:.0f} s" + (" (cached)" if k in cached else "") for k, v in timings.items())
                 + ")")
    write_text(out / "summary.txt", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0
