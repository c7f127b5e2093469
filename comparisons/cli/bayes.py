"""``tms-phases bayes``: the posterior over a ladder of n (replica exchange or NUTS) and the phase occupancy."""

from __future__ import annotations

__all__ = ["HELP", "add_arguments", "run", "config_from_args", "nuts_config", "pt_config", "pt_options",
           "run_nuts", "run_pt_job"]

import argparse
from typing import Any, Sequence

from ..errors import InputError, check_positive_int
from .flags import FlagTable, is_given

HELP = "posterior over a ladder of n (replica exchange, or NUTS) and the Bayesian phase occupancy"
#: the PTConfig fields that are flags of their own (the shared ones come from BayesConfig;
#: with --datasets, --population adds the population run beside the data sets)
PT_FIELDS = ("copies", "sweeps", "warmup", "leapfrog", "thin")
#: the BayesConfig flags that only NUTS reads
NUTS_ONLY = ("chains", "draws", "tune", "backend", "target_accept", "cores")
#: the flags that only replica exchange reads (its own config fields, the study's options)
PT_ONLY = {**{f: "--" + f for f in PT_FIELDS}, "population": "--population", "datasets": "--datasets",
           "conventions": "--conventions"}


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
    given = [flag for dest, flag in PT_ONLY.items() if is_given(getattr(args, dest, None))]
    if given:
        raise InputError(f"{', '.join(given)}: replica-exchange flags (--sampler pt, the default), not used by "
                         "--sampler nuts; drop them or leave out --sampler nuts")


def nuts_flags() -> FlagTable:
    """The flags of :class:`bayes_tms.BayesConfig` (every field with a help text)."""
    from bayes_tms.config import BayesConfig

    return FlagTable(BayesConfig, hide_default=("ns",))


def pt_flags() -> FlagTable:
    """The flags of :class:`bayes_tms.PTConfig` that ``tms-phases bayes --sampler pt`` reads."""
    from bayes_tms.pt import PTConfig

    return FlagTable(PTConfig, fields=("ns", "beta", "prior_sigma", "seed", "features", "hidden", *PT_FIELDS,
                                      "population"))


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
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder; re-running with the same folder resumes (finished n are kept)")
    parser.add_argument("--preset", default=None, choices=("quick", "paper"),
                        help="quick: a few minutes, locates the c=6 switches; paper: c=6 ladder of "
                        "18 n from 100 to 2000 (c=4/5: 100..600), 64 chains, 500 tune + 500 draws")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument("--sampler", default="pt", choices=("pt", "nuts"),
                        help="pt: replica exchange over the n-ladder (draw fractions, every neighbour "
                        "swap accepting >= 0.2; agrees with the bridge, see reproduce's "
                        "occupancy_compare.csv); nuts: prior-initialised NUTS chains per n, occupancy "
                        "by ladder-bridge reweighting (default: pt)")
    from ..theory import OCCUPANCY_RULE, RULES

    parser.add_argument("--classifier", default=OCCUPANCY_RULE, choices=RULES,
                        help="both samplers: hull: the paper's rule, every draw labelled; gated: labels only "
                        f"near an enumerated phase, else unclassified (default: {OCCUPANCY_RULE})")
    pt = parser.add_argument_group("replica exchange (--sampler pt, the default)")
    pt_flags().add_to(pt)
    pt.add_argument("--datasets", type=int, default=None, metavar="D",
                    help="repeat over D data sets (seeds from the root seed) and write switches.csv; "
                    "default: one run on the data of --seed")
    pt.add_argument("--conventions", default=None, metavar="NAMES",
                    help="with --datasets: comma-separated likelihood conventions, tempered (beta 1) "
                    "and/or gaussian-sigma1 (beta 1/2; the paper's code); default: tempered")
    pt.add_argument("--refine-tol", type=float, default=None, metavar="F",
                    help="re-run the ladder (each study run's, with --datasets) with rungs inserted around every "
                    "switch of the leading phase until it is bracketed within F of its n (default: 0.02 with "
                    "--datasets; 0, no refinement, for one run, whose rungs stay those asked for)")
    pt.add_argument("--refine-rounds", type=int, default=None, metavar="R",
                    help="at most R refinement re-runs per run (default: 3)")
    from ..sweep import add_sweep_arguments

    add_sweep_arguments(parser)
    # one rung at a time in this process by default: the NUTS back-ends run chains in parallel
    parser.set_defaults(executor="inline")
    for action in parser._actions:
        if action.dest == "executor":
            action.help = ("where the rungs (one task per n) run (default: inline, since the NUTS back-ends "
                           "already run chains in parallel; process pool; Dask with --scheduler/--dask-local)")


def nuts_config(preset: str | None = None, features: int | None = None, **fields: Any):
    """The :class:`~bayes_tms.BayesConfig` of a preset (or of none) with ``fields`` on top.

    ``fields`` are BayesConfig fields; None means "not given". Without a preset the ladder
    ``ns`` is required and the back-end defaults to nutpie when it is installed (as in the
    presets). An InputError names the flag of the bad field.
    """
    from bayes_tms.config import BayesConfig, nutpie_available, preset_config

    table = nuts_flags()
    fields = {k: v for k, v in fields.items() if v is not None}
    features = 6 if features is None else features
    if preset is not None:
        return table.build(preset_config, preset, features, **fields)
    if "ns" not in fields:
        raise InputError("--n: expected a ladder of sample sizes (or a --preset), got none")
    fields.setdefault("backend", "nutpie" if nutpie_available() else "pymc")  # as in the presets
    return table.build(BayesConfig, features=features, **fields)


def config_from_args(args: argparse.Namespace):
    """Build the :class:`~bayes_tms.BayesConfig` from parsed flags (preset first, flags on top)."""
    given = nuts_flags().given(args)
    given["classifier"] = getattr(args, "classifier", None)
    return nuts_config(args.preset, given.pop("features", None), **given)


def pt_config(preset: str | None = None, features: int | None = None, *, population: bool = False,
              **fields: Any):
    """The :class:`~bayes_tms.PTConfig` of a preset (``quick``, ``paper``; or none) with ``fields``.

    The preset ladders are the NUTS presets' (:data:`comparisons.jobs.bayes_pt.PT_PRESETS`).
    """
    from bayes_tms.config import PRESETS
    from bayes_tms.pt import PTConfig

    from ..jobs.bayes_pt import PT_PRESETS

    c = 6 if features is None else features
    values: dict = {}
    if preset is not None:
        if preset not in PT_PRESETS or c not in PRESETS.get(preset, {}):
            raise InputError(f"--preset: expected quick or paper for c in 4, 5, 6, got {preset!r} with c = {c}")
        values = dict(PT_PRESETS[preset])
        extra = values.pop("extra_ns", ())
        values["ns"] = tuple(sorted(set(extra) | set(PRESETS[preset][c]["ns"])))
    elif fields.get("ns") is None:
        raise InputError("--n: expected a ladder of sample sizes (or a --preset), got none")
    values.update({k: v for k, v in fields.items() if v is not None})
    return pt_flags().build(PTConfig, features=c, population=bool(population), **values)


def pt_options(*, datasets: int | None = None, conventions: Sequence[str] | str | None = None,
               classifier: str | None = None, population: bool = False, bootstrap: int | None = None,
               beta: float | None = None) -> dict:
    """The options of a PT job beside its config: ``datasets, conventions, rule, population, bootstrap``."""
    from ..jobs.bayes_pt import CONVENTIONS

    given = conventions
    if isinstance(conventions, str):
        conventions = tuple(v for v in conventions.replace(" ", "").split(",") if v)
    conventions = ("tempered",) if conventions is None else tuple(dict.fromkeys(conventions))  # once each
    bad = [v for v in conventions if v not in CONVENTIONS]
    if bad or not conventions:
        raise InputError(f"--conventions: expected some of {', '.join(CONVENTIONS)}, got {given!r}")
    if given is not None and datasets is None:
        raise InputError("--conventions: expected together with --datasets, got it alone (use --beta for one run)")
    if datasets is not None:
        check_positive_int("--datasets", datasets)
        if beta is not None:
            raise InputError("--beta: expected --conventions with --datasets (each names its beta), got --beta")
    from ..theory import OCCUPANCY_RULE

    classifier = OCCUPANCY_RULE if classifier is None else classifier
    bootstrap = 1000 if bootstrap is None else bootstrap
    check_positive_int("--bootstrap", bootstrap, minimum=10)
    return {"datasets": datasets, "conventions": conventions, "rule": classifier,
            "population": bool(population), "bootstrap": bootstrap}


def pt_config_from_args(args: argparse.Namespace) -> tuple:
    """``(PTConfig, options)`` from the ``tms-phases bayes --sampler pt`` flags."""
    refuse_other_sampler(args)
    given = pt_flags().given(args)
    population = bool(given.pop("population", False))
    config = pt_config(args.preset, given.pop("features", None), population=population, **given)
    opts = pt_options(datasets=args.datasets, conventions=args.conventions, classifier=args.classifier,
                      population=population, bootstrap=args.bootstrap, beta=args.beta)
    refine = {k: getattr(args, k, None) for k in ("refine_tol", "refine_rounds")}
    if refine["refine_tol"] is not None and not 0 <= refine["refine_tol"] < 1:
        raise InputError(f"--refine-tol: expected a number in [0, 1), got {refine['refine_tol']!r}")
    if refine["refine_rounds"] is not None:
        check_positive_int("--refine-rounds", refine["refine_rounds"], minimum=0)
    opts.update({k: v for k, v in refine.items() if v is not None})
    return config, opts


def pt_sweep_kwargs(args: argparse.Namespace, datasets: int | None) -> dict:
    """The sweep-runner keywords of a PT study: in-process by default, a process pool with
    ``--workers N > 1``, Dask with ``--scheduler``/``--dask-local``; the scheduler is checked here,
    before any work. Without ``--datasets`` (one run) the sweep flags are refused."""
    from ..sweep import check_scheduler, sweep_kwargs

    given = [f for f, v in (("--workers", getattr(args, "workers", None)), ("--scheduler", getattr(args, "scheduler", None)),
                            ("--dask-local", getattr(args, "dask_local", False) or None)) if v is not None]
    if datasets is None:
        if given:
            raise InputError(f"{given[0]}: expected together with --datasets (a study's runs are its tasks), "
                             "got it for one run")
        return {}
    if (getattr(args, "scheduler", None) or getattr(args, "dask_local", False)) \
            and getattr(args, "executor", None) in ("inline", None):
        args.executor = "dask"
    elif getattr(args, "executor", None) in ("inline", None) and (getattr(args, "workers", None) or 1) > 1:
        args.executor = "process"
    kw = sweep_kwargs(args)
    kw.pop("progress")
    check_scheduler(kw["scheduler"])
    return kw


def run_pt_job(config, opts: dict, out_dir, *, progress: bool = True, yes: bool = False,
               sweep: dict | None = None) -> int:
    """One PT run, or a study over data sets (``opts`` from :func:`pt_options`); prints a summary.

    ``sweep``: ``executor, workers, scheduler, retries`` of the study's sweep runner."""
    from ..compare import switch_line
    from ..cost import confirm
    from ..io import check_out_path, check_writable_dir, write_json
    from ..cost import pt_seconds
    from ..jobs.bayes_pt import run_pt, run_pt_study

    check_out_path(out_dir)
    from ..folder import check_folder

    check_folder(out_dir, "bayes --sampler pt" if opts["datasets"] is None else "bayes --sampler pt --datasets")
    sweep = dict(sweep or {})
    runs = (1 if opts["datasets"] is None else
            len(opts["conventions"]) * (opts["datasets"] + bool(opts["population"])))
    confirm(pt_seconds(config, {**opts, **sweep}), f"{runs} PT run(s) of {len(config.ns)} n x {config.copies} copies x "
            f"{config.warmup + config.sweeps} sweeps", yes)
    out = check_writable_dir(out_dir)  # after the estimate: a refused run leaves no folder behind
    if opts["datasets"] is None:
        from ..jobs.bayes_pt import REFINE_ROUNDS

        # one run is refined only on request: the ladders of the reproduction's panels must stay one grid
        res = run_pt(config, out, rule=opts["rule"], bootstrap=opts["bootstrap"], progress=progress,
                     refine_tol=opts.get("refine_tol", 0.0), refine_rounds=opts.get("refine_rounds", REFINE_ROUNDS))
        write_json(out / "timing.json", {"compute_s": res["compute_s"], "cached": res["cached"]})
        note = " (cached; computed in {:.0f} s)".format(res["compute_s"]) if res["cached"] else ""
        print(f"bayes (pt): {len(config.ns)} n x {config.copies} copies x {config.sweeps} sweeps, "
              f"beta = {config.beta:g}{', population loss' if config.population else ''}: "
              f"{res['wall_s']:.1f} s{note}; mixed at every n: {'yes' if res['mixed'] else 'NO (see diagnostics.csv)'}")
        for t in res["transitions"]:
            print("  " + switch_line(t))
    else:
        res = run_pt_study(config, out, datasets=opts["datasets"], conventions=opts["conventions"],
                           population=opts["population"], rule=opts["rule"], bootstrap=opts["bootstrap"],
                           progress=progress, **{k: opts[k] for k in ("refine_tol", "refine_rounds") if k in opts},
                           **sweep)
        write_json(out / "timing.json", {"compute_s": res["compute_s"], "cached": res["cached"],
                                         "computed": res["computed"], "reused": res["reused"]})
        for r in res["summary"]:
            print(f"  {r['convention']} (beta = {r['beta']:g}) {r['from']} -> {r['to']}: mean n = {r['mean']:.0f} "
                  f"[{r['mean_lower']:.0f}, {r['mean_upper']:.0f}], median {r['median']:.0f}, "
                  f"sd {r['sd']:.0f} over the {r['datasets']} of {r['datasets_run']} data sets that switch "
                  f"({r['not_single']:.0%} not a single crossing) [{r['values']}]; population "
                  f"{r['population']:.0f}; predicted {r['predicted_n'] or float('nan'):.0f} (asymptotic), "
                  f"{r['predicted_n_laplace'] or float('nan'):.0f} (O(1))"
                  + ("" if r["all_mixed"] else "; NOT all runs mixed"))
    print(f"outputs in {out_dir}")
    return 0


def run_nuts(config, out_dir, *, progress: bool = True, sweep: dict | None = None, yes: bool = False) -> int:
    """The NUTS sweep of ``config`` (:func:`comparisons.jobs.bayes.run_bayes`); prints a summary.

    ``sweep``: ``executor, workers, scheduler, retries`` for the sweep runner.
    """
    from ..compare import switch_line
    from ..cost import bayes_seconds, confirm
    from ..io import check_out_path, check_writable_dir
    from ..jobs.bayes import run_bayes

    check_out_path(out_dir)
    from ..folder import check_folder

    check_folder(out_dir, "bayes --sampler nuts")  # refused before the estimate, not after it
    confirm(bayes_seconds(config), f"{len(config.ns)} n x {config.chains} chains x "
            f"{config.draws + config.tune} steps ({config.backend})", yes)
    check_writable_dir(out_dir)  # after the estimate: a refused run leaves no folder behind
    summary = run_bayes(config, out_dir, progress=progress, **(sweep or {}))
    cached = (f" ({summary['rungs_cached']} of {summary['rungs']} rungs cached; sampling all of them "
              f"took {summary['compute_s']:.1f} s)" if summary.get("rungs_cached") else "")
    print(f"bayes: {len(config.ns)} n x {config.chains} chains x {config.draws} draws "
          f"({config.backend}) in {summary['wall_s']:.1f} s sampling{cached}; "
          f"{summary['divergences']} divergences in {summary['draws_total']} draws")
    for t in summary["transitions"]:
        print("  " + switch_line(t))
    print(f"outputs in {out_dir} (transitions.json has every field)")
    return 0


def nuts_sweep_kwargs(args: argparse.Namespace) -> dict:
    """The sweep-runner keywords of the NUTS sweep: inline by default, Dask when asked for."""
    from ..sweep import sweep_kwargs

    if (getattr(args, "scheduler", None) or getattr(args, "dask_local", False)) \
            and getattr(args, "executor", None) in ("inline", None):
        args.executor = "dask"
    elif getattr(args, "executor", None) is None:
        args.executor = "inline"
    kw = sweep_kwargs(args)
    kw.pop("progress")
    return kw


def run(args: argparse.Namespace) -> int:
    """Run the job described by ``args``; print a short summary; return the exit status."""
    refuse_other_sampler(args)
    if args.sampler == "pt":
        config, opts = pt_config_from_args(args)
        return run_pt_job(config, opts, args.out, progress=not args.no_progress, yes=getattr(args, "yes", False),
                          sweep=pt_sweep_kwargs(args, opts["datasets"]))
    config = config_from_args(args)
    return run_nuts(config, args.out, progress=not args.no_progress, sweep=nuts_sweep_kwargs(args),
                    yes=getattr(args, "yes", False))
