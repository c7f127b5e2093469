"""``tms-phases bayes``: the posterior over a ladder of n (replica exchange or NUTS) and the phase occupancy."""

from __future__ import annotations

__all__ = [
    "HELP",
    "BayesCommand",
    "add_arguments",
    "config_from_args",
    "nuts_config",
    "pt_config",
    "pt_refine",
    "pt_study",
    "run",
    "run_nuts",
    "run_pt_job",
]

import argparse
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from .flags import FlagTable, flag_errors, is_given

HELP = "posterior over a ladder of n (replica exchange, or NUTS) and the Bayesian phase occupancy"
#: the PTConfig fields that are flags of their own (the shared ones, warm-up included, come from
#: BayesConfig; with --datasets, --population adds the population run beside the data sets)
PT_FIELDS = ("copies", "sweeps", "warmup", "leapfrog", "thin")
#: the BayesConfig flags that only NUTS reads
NUTS_ONLY = ("chains", "draws", "backend", "target_accept", "cores")
#: the study flags (SwitchStudyConfig fields); --datasets and --conventions make a study, the
#: refinement flags also set one run's
STUDY_FIELDS = ("datasets", "conventions", "refine_tol", "refine_rounds")


@dataclass(frozen=True)
class BayesCommand:
    """The options of ``tms-phases bayes`` beside the sampler configs: where, which preset, which sampler."""

    out: str | None = field(default=None, metadata={
        "help": "output folder; re-running with the same folder resumes (finished n are kept)", "metavar": "DIR",
        "required": True})
    preset: str | None = field(default=None, metadata={
        "help": "quick: a few minutes, locates the c=6 switches; paper: c=6 ladder of 18 n from 100 to 2000 "
                "(c=4/5: 100..600), 64 chains, 500 warm-up + 500 draws", "choices": ("quick", "paper"),
        "default_text": "none"})
    no_progress: bool = field(default=False, metadata={"help": "hide the progress bars"})
    sampler: str = field(default="pt", metadata={
        "help": "pt: replica exchange over the n-ladder (draw fractions, every neighbour swap accepting >= 0.2; "
                "agrees with the bridge, see reproduce's occupancy_compare.csv); nuts: prior-initialised NUTS "
                "chains per n, occupancy by ladder-bridge reweighting", "choices": ("pt", "nuts")})


def command_flags() -> FlagTable:
    """The flags of :class:`BayesCommand` (parsed to their defaults when not given)."""
    return FlagTable(BayesCommand, defaults=True)


def pt_only(args: argparse.Namespace) -> list[str]:
    """The replica-exchange flags given: its own config fields and the study's."""
    table, study = pt_flags(), study_flags()
    fields = [f for f in PT_FIELDS if f != "warmup"] + ["population"]
    return ([table.flag_of(f) for f in fields if is_given(getattr(args, f, None))]
            + [study.flag_of(f) for f in STUDY_FIELDS if is_given(getattr(args, f, None))])


def refuse_other_sampler(args: argparse.Namespace) -> None:
    """Refuse the flags of the sampler not chosen, in one line naming them and their sampler.

    Symmetric: NUTS flags under ``--sampler pt`` and replica-exchange flags under
    ``--sampler nuts`` are both errors, never silently ignored (a TOML default counts as given).
    """
    if args.sampler == "pt":
        table = nuts_flags()
        given = [table.flag_of(f) for f in NUTS_ONLY if getattr(args, f, None) is not None]
        if given:
            raise InputError(f"{', '.join(given)}: NUTS flags, not used by --sampler pt (the default); "
                             "add --sampler nuts, or use --copies, --sweeps, --warmup")
        return
    given = pt_only(args)
    if given:
        raise InputError(f"{', '.join(given)}: replica-exchange flags (--sampler pt, the default), not used by "
                         "--sampler nuts; drop them or leave out --sampler nuts")


def nuts_flags() -> FlagTable:
    """The flags of :class:`~comparisons.jobs.configs.BayesConfig` (every field with a help text)."""
    from ..jobs.configs import BayesConfig

    return FlagTable(BayesConfig, hide_default=("ns",))


def pt_flags() -> FlagTable:
    """The flags of :class:`~comparisons.jobs.configs.PTConfig` that ``tms-phases bayes --sampler pt`` reads."""
    from ..jobs.configs import PosteriorSpec, PTConfig

    shared = [f.name for f in dataclasses.fields(PosteriorSpec)]
    return FlagTable(PTConfig, fields=(*shared, *PT_FIELDS, "population"))


def study_flags() -> FlagTable:
    """The flags of :class:`~comparisons.jobs.configs.SwitchStudyConfig` (the switch study, ``--datasets``)."""
    from ..jobs.configs import SwitchStudyConfig

    return FlagTable(SwitchStudyConfig, fields=STUDY_FIELDS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``tms-phases bayes`` (explicit flags override the preset's values)."""
    from ..config_file import DefaultsHelpFormatter

    parser.formatter_class = DefaultsHelpFormatter
    parser.description = (
        "Sample the tempered TMS posterior p(W,b|D_n) ∝ N(0,σ²) exp(-n β L_n) at each n of a ladder "
        "(nested data: the first n samples of one seeded stream), classify every draw into a k-gon "
        "phase, and write per-n InferenceData (.nc), occupancy.csv/.nc, transitions.json/.nc, "
        "diagnostics.csv/.nc and occupancy.png. The default sampler is replica exchange over the "
        "ladder (--sampler pt), which crosses between phases; --sampler nuts runs prior-initialised "
        "NUTS chains per n with ladder-bridge reweighting, the second estimator.")
    nuts_flags().add_to(parser)
    command_flags().add_to(parser)
    pt = parser.add_argument_group("replica exchange (--sampler pt, the default)")
    pt_flags().add_to(pt)
    study_flags().add_to(pt)
    from ..sweep import add_sweep_arguments

    # one task at a time in this process by default: the NUTS back-ends run chains in parallel
    add_sweep_arguments(parser, executor="inline", executor_help=(
        "inline: one task at a time in this process; a PT study (--datasets) runs --workers N > 1 of its "
        "runs at once in a process pool; the NUTS rungs (one task per n, whose chains already run in "
        "parallel) need --executor process for that; Dask with --scheduler/--dask-local"))


def nuts_config(preset: str | None = None, features: int | None = None, **fields: Any):
    """The :class:`~comparisons.jobs.configs.BayesConfig` of a preset (or of none) with ``fields`` on top.

    ``fields`` are BayesConfig fields; None means "not given". Without a preset the ladder
    ``ns`` is required and the back-end defaults to nutpie when it is installed (as in the
    presets). An InputError names the flag of the bad field.
    """
    from ..jobs.configs import BayesConfig, check_features, nutpie_available, preset_config

    table = nuts_flags()
    fields = {k: v for k, v in fields.items() if v is not None}
    features = 6 if features is None else features
    check_features(features, fields.get("hidden", 2), name="--features")  # before the ladder's checks
    if preset is not None:
        with flag_errors(table, command_flags()):
            return preset_config(preset, features, **fields)
    if "ns" not in fields:
        raise InputError("--n: expected a ladder of sample sizes (or a --preset), got none")
    fields.setdefault("backend", "nutpie" if nutpie_available() else "pymc")  # as in the presets
    return table.build(BayesConfig, features=features, **fields)


def config_from_args(args: argparse.Namespace):
    """Build the :class:`~comparisons.jobs.configs.BayesConfig` from parsed flags (preset first, flags on top)."""
    given = nuts_flags().given(args)
    return nuts_config(args.preset, given.pop("features", None), **given)


def pt_config(preset: str | None = None, features: int | None = None, **fields: Any):
    """The :class:`~comparisons.jobs.configs.PTConfig` of a preset (``quick``, ``paper``; or none) with
    ``fields`` (None: not given) on top (:func:`~comparisons.jobs.configs.pt_preset_config`)."""
    from ..jobs.configs import PTConfig, check_features, pt_preset_config

    c = 6 if features is None else features
    check_features(c, fields.get("hidden") or 2, name="--features")  # before the preset's and the ladder's checks
    fields = {k: v for k, v in fields.items() if v is not None}
    with flag_errors(pt_flags(), command_flags()):
        if preset is not None:
            return pt_preset_config(preset, c, **fields)
        if fields.get("ns") is None:
            raise InputError("--n: expected a ladder of sample sizes (or a --preset), got none")
        return PTConfig(features=c, **fields)


def pt_study(config, *, datasets: int | None = None, conventions: Sequence[str] | str | None = None,
             refine_tol: float | None = None, refine_rounds: int | None = None, beta: float | None = None):
    """The :class:`~comparisons.jobs.configs.SwitchStudyConfig` of the study flags, or None for one run.

    ``--conventions`` needs ``--datasets``; ``--beta`` is refused with it (each convention names
    its beta). ``--refine-tol`` and ``--refine-rounds`` also set one run's refinement
    (:func:`pt_refine`). The population run is added when ``config.population`` (the
    ``--population`` flag).
    """
    from ..jobs.configs import SwitchStudyConfig

    table = study_flags()
    given = {"conventions": conventions, "refine_tol": refine_tol, "refine_rounds": refine_rounds}
    if datasets is None:
        if conventions is not None:
            raise InputError(f"{table.flag_of('conventions')}: expected together with --datasets, got it alone "
                             "(use --beta for one run)")
        return None
    if beta is not None:
        raise InputError("--beta: expected --conventions with --datasets (each names its beta), got --beta")
    return table.build(SwitchStudyConfig, datasets=datasets, population=bool(config.population),
                       **{k: v for k, v in given.items() if v is not None})


def pt_refine(refine_tol: float | None = None, refine_rounds: int | None = None) -> dict:
    """``{"refine_tol", "refine_rounds"}`` of one PT run (defaults where None: refined within 2% in
    at most 3 rounds; ``--refine-tol 0``: not refined), checked as the study's flags are."""
    from ..jobs.configs import SwitchStudyConfig

    given = {k: v for k, v in (("refine_tol", refine_tol), ("refine_rounds", refine_rounds)) if v is not None}
    study = study_flags().build(SwitchStudyConfig, datasets=1, **given)
    return {"refine_tol": study.refine_tol, "refine_rounds": study.refine_rounds}


def pt_config_from_args(args: argparse.Namespace) -> tuple:
    """``(PTConfig, SwitchStudyConfig or None)`` from the ``tms-phases bayes --sampler pt`` flags."""
    refuse_other_sampler(args)
    given = pt_flags().given(args)
    config = pt_config(args.preset, given.pop("features", None), **given)
    return config, pt_study(config, beta=args.beta, **study_flags().given(args))


def pt_sweep_kwargs(args: argparse.Namespace, study) -> dict:
    """The sweep-runner keywords of a PT study: in-process by default, a process pool with
    ``--workers N > 1``, Dask with ``--scheduler``/``--dask-local``; the scheduler is checked here,
    before any work. Without ``--datasets`` (one run) the sweep flags are refused."""
    from ..sweep import check_scheduler, pool_when_asked, sweep_kwargs

    given = [f for f, v in (("--workers", getattr(args, "workers", None)), ("--scheduler", getattr(args, "scheduler", None)),
                            ("--dask-local", getattr(args, "dask_local", False) or None)) if v is not None]
    if study is None:
        if given:
            raise InputError(f"{given[0]}: expected together with --datasets (a study's runs are its tasks), "
                             "got it for one run")
        return {}
    pool_when_asked(args)
    kw = sweep_kwargs(args)
    kw.pop("progress")
    check_scheduler(kw["scheduler"])
    return kw


def run_pt_job(config, study, out_dir, *, progress: bool = True, yes: bool = False,
               sweep: dict | None = None, refine: dict | None = None):
    """One PT run (``study`` None), or a switch study over data sets (``study``: a
    :class:`~comparisons.jobs.configs.SwitchStudyConfig`); prints a summary.

    Returns the job's :class:`comparisons.jobs.result.JobResult`.

    ``sweep``: ``executor, workers, scheduler, retries`` of the study's sweep runner; ``refine``:
    one run's switch refinement (:func:`pt_refine`; None: the default, refined within 2%)."""
    from ..compare import switch_lines
    from ..cost import confirm, pt_seconds
    from ..io import check_out_path, check_writable_dir
    from ..jobs.bayes_pt import mixing_words, run_pt, run_pt_study, stored_study_runs

    check_out_path(out_dir)
    from ..folder import check_folder

    check_folder(out_dir, "bayes --sampler pt" if study is None else "bayes --sampler pt --datasets")
    sweep = dict(sweep or {})
    runs = 1 if study is None else study.runs()
    refine = pt_refine() if refine is None else refine
    stored = set() if study is None else stored_study_runs(config, study, out_dir)
    confirm(pt_seconds(config, study, workers=sweep.get("workers"), scheduler=sweep.get("scheduler"),
                       executor=sweep.get("executor"), stored=stored, **refine),
            f"{runs} PT run(s) of {len(config.ns)} n x {config.copies} copies x "
            f"{config.warmup + config.sweeps} sweeps" + (f" ({len(stored)} stored, not counted)" if stored else ""),
            yes)
    out = check_writable_dir(out_dir)  # after the estimate: a refused run leaves no folder behind
    if study is None:
        result = run_pt(config, out, progress=progress, **refine)
        res = result.summary
        note = " (cached; computed in {:.0f} s)".format(res["compute_s"]) if res["cached"] else ""
        print(f"bayes (pt): {len(config.ns)} n x {config.copies} copies x {config.sweeps} sweeps, "
              f"beta = {config.beta:g}{', population loss' if config.population else ''}: "
              f"{res['wall_s']:.1f} s{note}; mixed at every n: {'yes' if res['mixed'] else 'NO (see diagnostics.csv)'}")
        for line in switch_lines(res["transitions"]):
            print("  " + line)
    else:
        result = run_pt_study(config, study, out, progress=progress, **sweep)
        res = result.summary
        summary = res["summary"]
        for i in range(summary.sizes["row"]):
            r = {k: v.item() for k, v in summary.isel(row=i).data_vars.items()}
            print(f"  {r['convention']} (beta = {r['beta']:g}) {r['from']} -> {r['to']}: mean n = {r['mean']:.0f} "
                  f"[{r['mean_lower']:.0f}, {r['mean_upper']:.0f}], median {r['median']:.0f}, "
                  f"sd {r['sd']:.0f} over the {r['datasets']} of {r['datasets_run']} data sets that switch "
                  f"({r['not_single']:.0%} not a single crossing) [{r['values']}]; population "
                  f"{r['population']:.0f}; predicted {r['predicted_n']:.0f} (asymptotic), "
                  f"{r['predicted_n_laplace']:.0f} (O(1))"
                  + mixing_words(r))
    print(f"outputs in {out_dir}")
    return result


def run_nuts(config, out_dir, *, progress: bool = True, sweep: dict | None = None, yes: bool = False):
    """The NUTS sweep of ``config`` (:func:`comparisons.jobs.bayes.run_bayes`); prints a summary.

    Returns the job's :class:`comparisons.jobs.result.JobResult`.

    ``sweep``: ``executor, workers, scheduler, retries`` for the sweep runner.
    """
    from ..compare import switch_lines
    from ..cost import bayes_seconds, confirm
    from ..io import check_out_path, check_writable_dir
    from ..jobs.bayes import run_bayes

    check_out_path(out_dir)
    from ..folder import check_folder

    check_folder(out_dir, "bayes --sampler nuts")  # refused before the estimate, not after it
    confirm(bayes_seconds(config), f"{len(config.ns)} n x {config.chains} chains x "
            f"{config.draws + config.warmup} steps ({config.backend})", yes)
    check_writable_dir(out_dir)  # after the estimate: a refused run leaves no folder behind
    result = run_bayes(config, out_dir, progress=progress, **(sweep or {}))
    summary = result.summary
    cached = (f" ({summary['rungs_cached']} of {summary['rungs']} rungs cached; sampling all of them "
              f"took {summary['compute_s']:.1f} s)" if summary.get("rungs_cached") else "")
    print(f"bayes: {len(config.ns)} n x {config.chains} chains x {config.draws} draws "
          f"({config.backend}) in {summary['wall_s']:.1f} s sampling{cached}; "
          f"{summary['divergences']} divergences in {summary['draws_total']} draws")
    for line in switch_lines(summary["transitions"]):
        print("  " + line)
    print(f"outputs in {out_dir} (transitions.json has every field)")
    return result


def nuts_sweep_kwargs(args: argparse.Namespace, note: bool = True) -> dict:
    """The sweep-runner keywords of the NUTS sweep: inline by default, Dask when asked for
    (``note``: say that ``--workers`` alone changes nothing here, :func:`comparisons.sweep.pool_when_asked`)."""
    from ..sweep import pool_when_asked, sweep_kwargs

    pool_when_asked(args, processes=False, note=note)
    kw = sweep_kwargs(args)
    kw.pop("progress")
    return kw


def run(args: argparse.Namespace) -> int:
    """Run the job described by ``args``; print a short summary; return the exit status."""
    refuse_other_sampler(args)
    if args.sampler == "pt":
        config, study = pt_config_from_args(args)
        refine = None if study is not None else pt_refine(getattr(args, "refine_tol", None),
                                                          getattr(args, "refine_rounds", None))
        return run_pt_job(config, study, args.out, progress=not args.no_progress, yes=getattr(args, "yes", False),
                          sweep=pt_sweep_kwargs(args, study), refine=refine).status
    config = config_from_args(args)
    return run_nuts(config, args.out, progress=not args.no_progress, sweep=nuts_sweep_kwargs(args),
                    yes=getattr(args, "yes", False)).status
