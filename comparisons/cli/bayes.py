"""``tms-phases bayes``: NUTS posterior sweep over a ladder of n and the phase occupancy."""

from __future__ import annotations

__all__ = ["HELP", "add_arguments", "run", "config_from_args"]

import argparse

from ..errors import InputError

HELP = "NUTS posterior sweep over a ladder of n and the Bayesian phase occupancy"


def _int_list(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise InputError(f"--n: expected comma-separated integers, got {text!r}") from None
    if not vals or any(v <= 0 for v in vals):
        raise InputError(f"--n: expected positive sample sizes, got {text!r}")
    if list(vals) != sorted(set(vals)):
        raise InputError(f"--n: expected increasing distinct sample sizes, got {', '.join(map(str, vals))}")
    return vals


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``tms-phases bayes`` (explicit flags override the preset's values)."""
    parser.description = (
        "Sample the tempered TMS posterior p(W,b|D_n) ∝ N(0,σ²) exp(-n β L_n) with NUTS at each n "
        "of a ladder (nested data: the first n samples of one seeded stream), classify every draw "
        "into a k-gon phase, and write per-n InferenceData (.nc), occupancy.csv, transitions.json, "
        "diagnostics.csv and occupancy.png. Chains start from independent prior draws.")
    parser.add_argument("--features", type=int, default=None, metavar="C",
                        help="number of features c (default 6)")
    parser.add_argument("--hidden", type=int, default=None, metavar="R", help="hidden dimension r (default 2)")
    parser.add_argument("--n", type=_int_list, default=None, metavar="N1,N2,...",
                        help="comma-separated ladder of sample sizes")
    parser.add_argument("--chains", type=int, default=None, metavar="K",
                        help="NUTS chains per n, each initialised from the prior")
    parser.add_argument("--draws", type=int, default=None, metavar="D", help="kept draws per chain")
    parser.add_argument("--tune", type=int, default=None, metavar="T", help="tuning (warm-up) steps per chain")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help="root seed of the data stream and of the sampler (default 0)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder; re-running with the same folder resumes (finished n are kept)")
    parser.add_argument("--backend", choices=None, default=None, metavar="{pymc,nutpie}",
                        help="NUTS implementation: nutpie (optional extra, much faster) or pymc "
                        "(default: nutpie when installed, else pymc)")
    parser.add_argument("--preset", default=None, metavar="{quick,paper}",
                        help="quick: a few minutes, locates the c=6 switches; paper: c=6 ladder of "
                        "18 n from 100 to 2000 (c=4/5: 100..600), 64 chains, 500 tune + 500 draws")
    parser.add_argument("--beta", type=float, default=None, help="inverse temperature β (default 1)")
    parser.add_argument("--prior-sigma", type=float, default=None, help="prior scale σ (default 1)")
    parser.add_argument("--target-accept", type=float, default=None,
                        help="NUTS target acceptance (default 0.9; higher = fewer divergences)")
    parser.add_argument("--cores", type=int, default=None, help="parallel chains (default 2)")
    parser.add_argument("--bootstrap", type=int, default=None, help="bootstrap replicates over chains (default 1000)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument("--sampler", default="nuts", choices=("nuts", "pt"),
                        help="nuts: prior-initialised NUTS chains per n, occupancy by ladder-bridge "
                        "reweighting; pt: replica exchange over the n-ladder (draw fractions, every "
                        "neighbour swap accepting >= 0.2) (default: nuts)")
    pt = parser.add_argument_group("replica exchange (--sampler pt)")
    pt.add_argument("--copies", type=int, default=None, metavar="K",
                    help="independent PT ensembles, the chains of R-hat and of the intervals (default 8)")
    pt.add_argument("--sweeps", type=int, default=None, metavar="S", help="kept sweeps (default 600)")
    pt.add_argument("--warmup", type=int, default=None, metavar="W",
                    help="warm-up sweeps, step sizes adapted (default 200)")
    pt.add_argument("--leapfrog", type=int, default=None, metavar="L", help="largest leapfrog steps per HMC move (default 10)")
    pt.add_argument("--thin", type=int, default=None, metavar="T", help="keep every T-th sweep (default 1)")
    pt.add_argument("--classifier", default="gated", choices=("gated", "hull"),
                    help="gated: labels only near an enumerated phase, else unclassified; hull: the "
                    "paper's rule, every draw labelled (default: gated)")
    pt.add_argument("--datasets", type=int, default=None, metavar="D",
                    help="repeat over D data sets (seeds from the root seed) and write switches.csv; "
                    "default: one run on the data of --seed")
    pt.add_argument("--conventions", default=None, metavar="NAMES",
                    help="with --datasets: comma-separated likelihood conventions, tempered (beta 1) "
                    "and/or gaussian-sigma1 (beta 1/2; the paper's code); default: tempered")
    pt.add_argument("--population", action="store_true",
                    help="sample exp(-n beta L) with the closed-form population loss (no data noise); "
                    "with --datasets: add the population run beside the data sets")
    from ..sweep import add_sweep_arguments

    add_sweep_arguments(parser)
    # one rung at a time in this process by default: the NUTS back-ends run chains in parallel
    parser.set_defaults(executor="inline")
    for action in parser._actions:
        if action.dest == "executor":
            action.help = ("where the rungs (one task per n) run (default: inline, since the NUTS back-ends "
                           "already run chains in parallel; process pool; Dask with --scheduler/--dask-local)")


def config_from_args(args: argparse.Namespace):
    """Build the :class:`~bayes_tms.BayesConfig` from parsed flags (preset first, flags on top)."""
    from bayes_tms.config import BayesConfig, nutpie_available, preset_config

    fields = {"hidden": args.hidden, "ns": args.n, "chains": args.chains, "draws": args.draws,
              "tune": args.tune, "seed": args.seed, "backend": args.backend, "beta": args.beta,
              "prior_sigma": args.prior_sigma, "target_accept": args.target_accept,
              "cores": args.cores, "bootstrap": args.bootstrap}
    if args.backend is not None and args.backend not in ("pymc", "nutpie"):
        raise InputError(f"--backend: expected pymc or nutpie, got {args.backend!r}")
    features = 6 if args.features is None else args.features
    if args.preset is not None:
        return preset_config(args.preset, features, **fields)
    if args.n is None:
        raise InputError("--n: expected a ladder of sample sizes (or a --preset), got none")
    if fields["backend"] is None:  # the same default as the presets
        fields["backend"] = "nutpie" if nutpie_available() else "pymc"
    return BayesConfig(features=features, **{k: v for k, v in fields.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    """Run the job described by ``args``; print a short summary; return the exit status."""
    if args.sampler == "pt":
        from ..jobs.bayes_pt import run_cli

        return run_cli(args)
    from ..compare import switch_line
    from ..jobs.bayes import run_bayes

    from ..sweep import sweep_kwargs

    config = config_from_args(args)
    if (args.scheduler or args.dask_local) and args.executor == "inline":
        args.executor = "dask"
    kw = sweep_kwargs(args)
    kw.pop("progress")
    from ..cost import bayes_seconds, confirm
    from ..io import check_out_path, check_writable_dir

    check_out_path(args.out)
    confirm(bayes_seconds(config), f"{len(config.ns)} n x {config.chains} chains x "
            f"{config.draws + config.tune} steps ({config.backend})", getattr(args, "yes", False))
    check_writable_dir(args.out)  # after the estimate: a refused run leaves no folder behind
    summary = run_bayes(config, args.out, progress=not args.no_progress, **kw)
    cached = (f" ({summary['rungs_cached']} of {summary['rungs']} rungs cached; sampling all of them "
              f"took {summary['compute_s']:.1f} s)" if summary.get("rungs_cached") else "")
    print(f"bayes: {len(config.ns)} n x {config.chains} chains x {config.draws} draws "
          f"({config.backend}) in {summary['wall_s']:.1f} s sampling{cached}; "
          f"{summary['divergences']} divergences in {summary['draws_total']} draws")
    for t in summary["transitions"]:
        print("  " + switch_line(t))
    print(f"outputs in {args.out} (transitions.json has every field)")
    return 0
