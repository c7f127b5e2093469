"""``tms-phases sgd``: train an SGD ensemble, estimate the LLC along it, segment the phases.

Writes into ``--out``: ``trajectory.nc`` (the trajectory Dataset with LLC), ``sequences.csv``,
``transitions.csv``, ``paths.csv`` (structural labels), ``paths_by_loss.csv`` (loss-level labels),
``labelling_comparison.csv`` (paths under both), ``time_in_phase.csv``, ``summary.json``,
``staircase.png`` and ``plateaus.png``. Re-running with the same settings reuses an intact
``trajectory.nc`` (training and/or LLC are skipped when their configuration hashes match).
"""

from __future__ import annotations

__all__ = ["add_arguments", "run"]

import argparse
import json
import sys
import time
from pathlib import Path

HELP = "SGD trajectory ensemble, LLC along it and the dynamical phase sequence"
#: largest c the k-gon enumeration (comparisons.theory.enumerate_phases) covers
THEORY_MAX_FEATURES = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``sgd`` options on ``parser``."""
    from .config_file import DefaultsHelpFormatter

    parser.formatter_class = DefaultsHelpFormatter
    parser.epilog = ("Unset training options take the preset's value (paper: c=6, r=2, n=1000, batch 20, "
                     "lr 0.005, 4500 epochs, 4-gon + N(0, 0.01^2) init, checkpoint every 30 epochs). "
                     "LLC defaults follow the paper: full-batch localised SGLD, step 1e-3, gamma 1, "
                     "500 draws, beta = 1/log n.")
    g = parser.add_argument_group("ensemble and training")
    g.add_argument("--runs", type=int, default=None, help="number of SGD runs in the ensemble (preset paper: 100, quick: 32, smoke: 8)")
    g.add_argument("--preset", default="paper", help="starting configuration: paper (100 runs of the paper protocol), quick (32 runs of it) or "
                   "smoke (8 short runs at n = 200, seconds)")
    g.add_argument("--seed", type=int, default=None, help="root seed of data, init, minibatch order and SGLD noise")
    g.add_argument("--out", required=True, help="output folder (created; existing results are reused)")
    g.add_argument("--epochs", type=int, default=None, help="training epochs")
    g.add_argument("--lr", type=float, default=None, help="learning rate")
    g.add_argument("--batch-size", type=int, default=None, help="minibatch size")
    g.add_argument("--n", type=int, default=None, help="training samples per run")
    g.add_argument("--features", type=int, default=None, help="number of features c")
    g.add_argument("--optimizer", choices=("sgd", "momentum", "adam"), default=None, help="optimiser")
    g.add_argument("--init", choices=("kgon", "paper", "gaussian"), default=None,
                   help="initialisation: kgon (preset default: randomly rotated --init-k-gon + noise), "
                        "paper (the 4-gon of length 1, all biases 0, + noise), gaussian (--init-scale)")
    g.add_argument("--init-k", type=int, default=None, help="k of the k-gon initialisation")
    g.add_argument("--init-length", type=float, default=None,
                   help="polygon length of --init kgon (default: the critical length l*)")
    g.add_argument("--init-noise", type=float, default=None, help="std of the noise added to --init kgon and paper")
    g.add_argument("--init-scale", type=float, default=None, help="std of the Gaussian initialisation")
    g.add_argument("--shared-data", action="store_true", default=None,
                   help="one training set for all runs (default: one per run)")
    g.add_argument("--checkpoint-every", type=int, default=None, help="checkpoint every this many epochs (0: off)")
    g.add_argument("--log-checkpoints", type=int, default=None, help="extra checkpoints on a log grid of this many epochs")
    g.add_argument("--dtype", choices=("float32", "float64"), default=None, help="floating point type")
    g.add_argument("--device", default=None, help="'cpu' or 'cuda' (if available)")
    g.add_argument("--threads", type=int, default=None, help="torch threads for training (1 is fastest on CPU)")
    l = parser.add_argument_group("LLC estimation (localised SGLD)")
    l.add_argument("--no-llc", action="store_true", help="skip the LLC estimation")
    l.add_argument("--llc-chains", type=int, default=4, help="SGLD chains per checkpoint")
    l.add_argument("--llc-draws", type=int, default=500, help="SGLD steps per chain")
    l.add_argument("--llc-burn-in", type=int, default=0, help="leading draws left out of the average")
    l.add_argument("--llc-step", type=float, default=1e-3, help="SGLD step size epsilon")
    l.add_argument("--llc-gamma", type=float, default=1.0, help="localisation strength gamma")
    l.add_argument("--llc-beta", type=float, default=None, help="inverse temperature (default 1/log n)")
    l.add_argument("--llc-escape-fraction", type=float, default=0.5,
                   help="a chain escaped if more than this share of its draws lies below L_n(w*)")
    l.add_argument("--llc-thin", type=int, default=10, help="keep every k-th draw in the stored loss traces")
    l.add_argument("--llc-chunk", type=int, default=0, help="checkpoints per tensor program (0: all; lower to save memory)")
    l.add_argument("--llc-threads", type=int, default=1, help="torch threads for the LLC estimation")
    l.add_argument("--llc-dtype", choices=("float32", "float64"), default="float32",
                   help="precision of the SGLD chains (float32: about 2x faster)")
    o = parser.add_argument_group("output")
    o.add_argument("--force", action="store_true", help="recompute even if an intact trajectory.nc matches")
    from .config_file import positive_int_arg

    o.add_argument("--plot-runs", type=positive_int_arg("--plot-runs"), default=4, help="runs drawn in staircase.png")
    o.add_argument("--block-runs", type=int, default=None,
                   help="runs per task of the sweep (default: all runs in one batched task; smaller "
                        "blocks spread the work over processes or a Dask cluster)")
    from .sweep import add_sweep_arguments

    add_sweep_arguments(parser)


def _configs(args):
    from sgd_tms.config import LLCConfig, preset

    tc = preset(args.preset, runs=args.runs, seed=args.seed, epochs=args.epochs, lr=args.lr,
                batch_size=args.batch_size, n=args.n, features=args.features,
                optimizer=args.optimizer, init=args.init, init_k=args.init_k,
                init_length=args.init_length, init_noise=args.init_noise, init_scale=args.init_scale,
                shared_data=args.shared_data, checkpoint_every=args.checkpoint_every,
                log_checkpoints=args.log_checkpoints, dtype=args.dtype, device=args.device,
                threads=args.threads)
    lc = None if args.no_llc else LLCConfig(
        step_size=args.llc_step, gamma=args.llc_gamma, beta=args.llc_beta, chains=args.llc_chains,
        draws=args.llc_draws, burn_in=args.llc_burn_in, escape_fraction=args.llc_escape_fraction,
        thin=args.llc_thin, seed=tc.seed, chunk=args.llc_chunk, threads=args.llc_threads,
        dtype=args.llc_dtype)
    if tc.hidden == 2 and tc.features > THEORY_MAX_FEATURES:  # the phase labels need the k-gon theory
        from .errors import InputError

        raise InputError(f"--features: expected 2 <= c <= {THEORY_MAX_FEATURES} (the k-gon phases that "
                         f"label the checkpoints), got {tc.features}")
    return tc, lc


#: files written from the trajectory (removed when there is nothing to analyse)
_DERIVED = ("plateaus.nc", "sequences.csv", "transitions.csv", "paths.csv", "time_in_phase.csv", "staircase.png",
            "plateaus.png")


class _AllDiverged(Exception):
    """Every run of the ensemble diverged."""


def _ranges(ids: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``."""
    parts, start = [], None
    for i, r in enumerate(ids):
        if start is None:
            start = r
        if i + 1 == len(ids) or ids[i + 1] != r + 1:
            parts.append(str(start) if start == r else f"{start}-{r}")
            start = None
    return ", ".join(parts)


def _existing(path: Path):
    from .errors import InputError

    from sgd_tms.train import load_trajectory

    if not path.is_file():
        return None
    try:
        return load_trajectory(path)
    except InputError as exc:
        print(f"note: {path.name} unreadable, recomputing ({exc})", file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    """Run the ``sgd`` subcommand; returns the exit status (1 when every run diverged)."""
    try:
        return _run(args)
    except _AllDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from .io import check_out_path, check_writable_dir, save_figure, write_json, write_text

    from .errors import InputError

    from sgd_tms.config import config_hash
    from sgd_tms.model import resolve_device
    from sgd_tms.phases import compare_labellings
    from sgd_tms.phases import (count_paper_sequence, label_checkpoints, path_fractions, phase_sequences,
                         plateau_rank_correlation, time_in_phase, transition_counts)
    from sgd_tms.plots import plateau_figure, staircase_figure
    from sgd_tms.train import diverged_runs

    from .jobs.sgd import save_plateaus, save_trajectory

    tc, lc = _configs(args)
    resolve_device(tc.device)
    out = check_out_path(args.out)  # created below, once the run is confirmed or reused
    path = out / "trajectory.nc"
    progress = not args.no_progress
    timings: dict[str, float] = {}
    ds = None if args.force else _existing(path)
    wanted = config_hash(tc) if lc is None else config_hash(tc, lc)
    if ds is not None and (ds.attrs.get("train_config_hash") != config_hash(tc)
                           or (lc is not None and ds.attrs.get("config_hash") != wanted)):
        ds = None
    if ds is None:
        import functools

        import torch

        from .sweep import ResultStore, run_sweep, sweep_kwargs

        from .jobs.sgd import BLOCK_FORMAT, assemble, block_tasks, run_block

        if args.block_runs is not None and args.block_runs < 1:
            raise InputError(f"--block-runs: expected an integer >= 1, got {args.block_runs}")
        tasks = block_tasks(tc, lc, args.block_runs)
        kw = sweep_kwargs(args)
        from .cost import confirm, sgd_seconds

        confirm(sgd_seconds(tc, lc), f"{tc.runs} runs x {tc.epochs} epochs"
                + ("" if lc is None else f" and the LLC at {len(tc.checkpoint_epochs())} checkpoints"),
                getattr(args, "yes", False))
        check_writable_dir(out)
        store = ResultStore(out / "tasks", result_format=BLOCK_FORMAT, versions={"torch": torch.__version__})
        print(f"training {tc.runs} runs x {tc.epochs} epochs" + ("" if lc is None else " and their LLC")
              + f" in {len(tasks)} task(s) ...", file=sys.stderr)
        t0 = time.perf_counter()
        res = run_sweep(tasks, functools.partial(run_block, progress=progress and len(tasks) == 1), store,
                        desc="sgd blocks", **kw)
        if not res.ok:
            return res.exit_status()
        timings["this_run_s"] = time.perf_counter() - t0
        # the computation behind the blocks, reused ones with the time they took then
        timings["train_and_llc_s"] = res.total_compute_s
        timings["cached"] = bool(res.reused)
        ds = assemble(list(res.results))
        ds.attrs["compute_s"] = res.total_compute_s
        save_trajectory(ds, path)
    else:
        check_writable_dir(out)
        print("reusing training" + ("" if lc is None else " and LLC") + f" in {path}", file=sys.stderr)
        if "compute_s" in ds.attrs:
            timings["train_and_llc_s"] = float(ds.attrs["compute_s"])
        timings["this_run_s"] = 0.0
        timings["cached"] = True
    diverged = diverged_runs(ds)
    if diverged:
        steps = {int(r): int(s) for r, s in zip(ds["run"].values, ds["diverged_step"].values) if s >= 0} \
            if "diverged_step" in ds else {}
        if len(diverged) == ds.sizes["run"]:
            for name in _DERIVED:  # no tables from an earlier run beside this trajectory
                (out / name).unlink(missing_ok=True)
            write_json(out / "summary.json", {
                "runs": int(ds.sizes["run"]), "diverged_runs": diverged, "diverged_steps": steps,
                "error": "every run diverged", "timings_s": timings,
                "train_config": json.loads(ds.attrs["train_config"]), "config_hash": ds.attrs.get("config_hash")})
            raise _AllDiverged(f"all {len(diverged)} runs diverged (non-finite or exploding weights, "
                               f"first at step {min(steps.values()) if steps else '?'}); nothing to "
                               f"analyse; lower --lr (got {tc.lr:g}); trajectory.nc and summary.json "
                               f"are in {out}")
        print(f"warning: {len(diverged)} of {ds.sizes['run']} runs diverged and are left out of the "
              f"analysis: runs {_ranges(diverged)} (lower --lr, got {tc.lr:g})", file=sys.stderr)
    ds = label_checkpoints(ds)
    seq = phase_sequences(ds)
    write_text(out / "sequences.csv", seq.drop(columns="points").to_csv(index=False))
    save_plateaus(seq, ds.sizes["run"] - len(diverged), out / "plateaus.nc")
    write_text(out / "transitions.csv", transition_counts(seq).to_csv(index=False))
    paths = path_fractions(seq, runs=ds.sizes["run"] - len(diverged))
    write_text(out / "paths.csv", paths.to_csv(index=False))
    cmp = compare_labellings(ds)
    write_text(out / "paths_by_loss.csv",
               path_fractions(phase_sequences(ds, "loss"), runs=ds.sizes["run"]).to_csv(index=False))
    write_text(out / "labelling_comparison.csv", cmp.paths.to_csv(index=False))
    write_text(out / "time_in_phase.csv", time_in_phase(seq).to_csv(index=False))
    rho, n_plat = plateau_rank_correlation(seq)
    summary = {
        "runs": int(ds.sizes["run"]), "checkpoints": int(ds.sizes["step"]),
        "plateaus": int(len(seq)), "paper_sequence_runs": count_paper_sequence(seq),
        "spearman_loss_llc": rho if rho == rho else None, "spearman_plateaus": n_plat,
        "final_phase_counts": {str(k): int(v) for k, v in
                               zip(*np.unique(ds["phase"].values[:, -1], return_counts=True))},
        "top_paths": paths.head(10).to_dict(orient="records"),
        "diverged_runs": diverged,
        "timings_s": timings, "train_config": json.loads(ds.attrs["train_config"]),
        "config_hash": ds.attrs.get("config_hash"),
    }
    if "llc" in ds:
        summary["llc_chains_escaped"] = int(ds["llc_escaped"].sum())
        summary["llc_chains_nonfinite"] = int(ds["llc_nonfinite"].sum())
        summary["llc_chains_total"] = int(ds["llc_escaped"].size)
        summary["llc_checkpoints_without_estimate"] = int(ds["llc"].isnull().sum())
    summary["labelling_agreement"] = {"checkpoints": cmp.checkpoints, "agreement": cmp.agreement,
                                      "agreement_classified": cmp.agreement_classified}
    write_json(out / "summary.json", summary)
    save_figure(staircase_figure(ds, max_runs=args.plot_runs), out / "staircase.png")
    save_figure(plateau_figure(seq, ds.sizes["feature"]), out / "plateaus.png")
    print(f"{summary['plateaus']} plateaus in {summary['runs']} runs; paper sequence (4-family then 5) "
          f"in {summary['paper_sequence_runs']} runs; Spearman(loss, LLC) over plateaus = {rho:.3f}")
    print(f"wrote {out}")
    return 0
