"""``tms-phases sgd``: train an SGD ensemble, estimate the LLC along it, segment the phases.

Writes into ``--out``: ``trajectory.nc`` (the trajectory Dataset with LLC), ``sequences.csv``,
``transitions.csv``, ``paths.csv`` (structural labels), ``paths_by_loss.csv`` (loss-level labels),
``labelling_comparison.csv`` (paths under both), ``time_in_phase.csv``, ``summary.json``,
``staircase.png`` and ``plateaus.png``. Re-running with the same settings reuses an intact
``trajectory.nc`` (training and/or LLC are skipped when their configuration hashes match).
"""

from __future__ import annotations

__all__ = ["add_arguments", "run", "sgd_configs", "run_ensemble"]

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from .flags import FlagTable, is_given

HELP = "SGD trajectory ensemble, LLC along it and the dynamical phase sequence"
#: largest c the k-gon enumeration (comparisons.theory.enumerate_phases) covers
THEORY_MAX_FEATURES = 8


def train_flags() -> FlagTable:
    """The flags of :class:`sgd_tms.TrainConfig` (every field with a help text)."""
    from sgd_tms.config import TrainConfig

    return FlagTable(TrainConfig)


def llc_flags() -> FlagTable:
    """The flags of :class:`sgd_tms.LLCConfig`, as ``--llc-*`` (its seed is the training seed)."""
    from sgd_tms.config import LLCConfig

    return FlagTable(LLCConfig, prefix="llc-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``sgd`` options on ``parser``."""
    from ..config_file import DefaultsHelpFormatter, positive_int_arg

    parser.formatter_class = DefaultsHelpFormatter
    parser.epilog = ("Unset training options take the preset's value (paper: c=6, r=2, n=1000, batch 20, "
                     "lr 0.005, 4500 epochs, 4-gon + N(0, 0.01^2) init, checkpoint every 30 epochs). "
                     "LLC defaults follow the paper: full-batch localised SGLD, step 1e-3, gamma 1, "
                     "500 draws, beta = 1/log n.")
    g = parser.add_argument_group("ensemble and training")
    from sgd_tms.config import PRESETS

    g.add_argument("--preset", default="paper", choices=tuple(PRESETS), help="starting configuration: paper (100 runs of the paper protocol), quick (32 runs of it) or "
                   "smoke (8 short runs at n = 200, seconds)")
    g.add_argument("--out", required=True, help="output folder (created; existing results are reused)")
    train_flags().add_to(g)
    l = parser.add_argument_group("LLC estimation (localised SGLD)")
    l.add_argument("--no-llc", action="store_true", help="skip the LLC estimation")
    llc_flags().add_to(l)
    o = parser.add_argument_group("output")
    o.add_argument("--force", action="store_true", help="recompute even if an intact trajectory.nc matches")
    o.add_argument("--plot-runs", type=positive_int_arg("--plot-runs"), default=4, help="runs drawn in staircase.png")
    o.add_argument("--block-runs", type=int, default=None,
                   help="runs per task of the sweep (default: all runs in one batched task; smaller "
                        "blocks spread the work over processes or a Dask cluster)")
    from ..sweep import add_sweep_arguments

    add_sweep_arguments(parser)


def sgd_configs(preset: str = "paper", train: Mapping[str, Any] | None = None,
                llc: Mapping[str, Any] | None = None):
    """``(TrainConfig, LLCConfig or None)``: the preset with the ``train`` fields given on top, and
    the estimator with the ``llc`` fields (None: no LLC). None values mean "not given"; an
    InputError names the flag of the bad field."""
    from sgd_tms.config import LLCConfig, preset as train_preset

    from ..errors import InputError

    tc = train_flags().build(train_preset, preset, **{k: v for k, v in (train or {}).items() if v is not None})
    lc = None if llc is None else llc_flags().build(
        LLCConfig, seed=tc.seed, **{k: v for k, v in llc.items() if v is not None})
    if tc.hidden == 2 and tc.features > THEORY_MAX_FEATURES:  # the phase labels need the k-gon theory
        raise InputError(f"--features: expected 2 <= c <= {THEORY_MAX_FEATURES} (the k-gon phases that "
                         f"label the checkpoints), got {tc.features}")
    return tc, lc


def _configs(args):
    if args.no_llc:
        given = [f.flag for f in llc_flags() if is_given(getattr(args, f.dest, None))]
        if given:
            from ..errors import InputError

            raise InputError(f"{', '.join(given)}: LLC flags, not used with --no-llc; drop them or the --no-llc")
    return sgd_configs(args.preset, train_flags().given(args), None if args.no_llc else llc_flags().given(args))


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
    from ..errors import InputError

    from sgd_tms.train import load_trajectory

    from ..contracts import validate_trajectory

    if not path.is_file():
        return None
    try:
        return validate_trajectory(load_trajectory(path))
    except InputError as exc:
        print(f"warning: {path} is damaged ({exc}); recomputing it", file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    """Run the ``sgd`` subcommand; returns the exit status (1 when every run diverged)."""
    from ..errors import InputError
    from ..sweep import sweep_kwargs

    tc, lc = _configs(args)
    if args.block_runs is not None and args.block_runs < 1:
        raise InputError(f"--block-runs: expected an integer >= 1, got {args.block_runs}")
    kw = sweep_kwargs(args)
    progress = kw.pop("progress")
    return run_ensemble(tc, lc, args.out, progress=progress, force=args.force, block_runs=args.block_runs,
                   plot_runs=args.plot_runs, sweep=kw, yes=getattr(args, "yes", False))


def run_ensemble(tc, lc, out_dir, *, progress: bool = True, force: bool = False, block_runs: int | None = None,
            plot_runs: int = 4, sweep: dict | None = None, yes: bool = False) -> int:
    """Train the ensemble ``tc``, estimate its LLC with ``lc`` (None: none), label and segment it,
    and write every file into ``out_dir``; returns the exit status (1 when every run diverged).

    ``sweep``: ``executor, workers, scheduler, retries`` for the sweep runner (one task per block of
    ``block_runs`` runs).
    """
    import contextlib

    from ..folder import owned_folder

    with contextlib.ExitStack() as stack:
        claimed = []

        def claim():  # the folder is claimed once the run is confirmed or its results are reused
            claimed.append(stack.enter_context(owned_folder(
                out_dir, "sgd", config={"train": tc.to_dict(), "llc": None if lc is None else lc.to_dict()})))
            return claimed[0].root

        try:
            status = _run(tc, lc, out_dir, progress=progress, force=force, block_runs=block_runs,
                          plot_runs=plot_runs, sweep=sweep or {}, yes=yes, claim=claim)
        except _AllDiverged as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if status == 0 and claimed:
            claimed[0].finish()
        return status


def _run(tc, lc, out_dir, *, progress: bool, force: bool, block_runs: int | None, plot_runs: int,
         sweep: dict, yes: bool, claim) -> int:
    import numpy as np

    from ..io import check_out_path, save_figure, write_json, write_text

    from sgd_tms.config import config_hash
    from sgd_tms.model import resolve_device
    from sgd_tms.phases import compare_labellings
    from sgd_tms.phases import (count_paper_sequence, label_checkpoints, path_fractions, phase_sequences,
                         plateau_rank_correlation, time_in_phase, transition_counts)
    from sgd_tms.plots import plateau_figure, staircase_figure
    from sgd_tms.train import diverged_runs

    from ..jobs.sgd import save_plateaus, save_trajectory

    resolve_device(tc.device)
    out = check_out_path(out_dir)  # created below, once the run is confirmed or reused
    path = out / "trajectory.nc"
    timings: dict[str, float] = {}
    ds = None if force else _existing(path)
    wanted = config_hash(tc) if lc is None else config_hash(tc, lc)
    if ds is not None and (ds.attrs.get("train_config_hash") != config_hash(tc)
                           or (lc is not None and ds.attrs.get("config_hash") != wanted)):
        ds = None
    if ds is None:
        import functools

        import torch

        from ..sweep import ResultStore, run_sweep

        from ..jobs.sgd import BLOCK_FORMAT, assemble, block_tasks, run_block, validate_block

        tasks = block_tasks(tc, lc, block_runs)
        kw = dict(sweep, progress=progress)
        from ..cost import confirm, sgd_seconds

        confirm(sgd_seconds(tc, lc), f"{tc.runs} runs x {tc.epochs} epochs"
                + ("" if lc is None else f" and the LLC at {len(tc.checkpoint_epochs())} checkpoints"),
                yes)
        claim()
        store = ResultStore(out / "tasks", result_format=BLOCK_FORMAT, versions={"torch": torch.__version__})
        print(f"training {tc.runs} runs x {tc.epochs} epochs" + ("" if lc is None else " and their LLC")
              + f" in {len(tasks)} task(s) ...", file=sys.stderr)
        t0 = time.perf_counter()
        res = run_sweep(tasks, functools.partial(run_block, progress=progress and len(tasks) == 1), store,
                        desc="sgd blocks", validate=validate_block, **kw)
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
        claim()
        from ..folder import keep

        keep(path)  # served from the earlier run
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
    save_figure(staircase_figure(ds, max_runs=plot_runs), out / "staircase.png")
    save_figure(plateau_figure(seq, ds.sizes["feature"]), out / "plateaus.png")
    print(f"{summary['plateaus']} plateaus in {summary['runs']} runs; paper sequence (4-family then 5) "
          f"in {summary['paper_sequence_runs']} runs; Spearman(loss, LLC) over plateaus = {rho:.3f}")
    print(f"wrote {out}")
    return 0
