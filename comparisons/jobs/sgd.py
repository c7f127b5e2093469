"""The SGD job: an ensemble trained as a grid of run blocks, its LLCs, plateaus, tables and figures.

:func:`run_ensemble` is the whole job (``tms-phases sgd`` and ``reproduce`` call it): it trains
the ensemble as run blocks on :func:`comparisons.sweep.run_sweep`, reuses an intact trajectory
of the same configuration, labels and segments it, and writes every file.

A block trains runs ``lo..hi-1`` of the ensemble (run ``r`` is the same in any block: its data,
initialisation and minibatch order come from the named streams ``("sgd", "run", r, ...)`` of the
seed tree) and, when asked, estimates the LLC at every checkpoint of those runs. The SGLD noise is keyed by
(run, step, chain) (:class:`sgd_tms.kernels.KeyedNoise`), so the block size changes no number:
any blocking and any executor give the same results.
"""

from __future__ import annotations

__all__ = ["run_ensemble", "block_tasks", "run_block", "validate_block", "assemble", "save_trajectory",
           "save_plateaus", "BLOCK_FORMAT", "TrainConfig", "LLCConfig", "PRESETS", "train_preset"]

import json
import sys
import time
from pathlib import Path

import xarray as xr

from sgd_tms.config import PRESETS, LLCConfig, TrainConfig
from sgd_tms.config import preset as train_preset
from sgd_tms.llc import estimate_llc
from sgd_tms.train import train

from ..contracts import validate_trajectory
from ..errors import InputError
from ..io import write_netcdf
from ..sweep import Task
from .result import JobResult, recording

#: version of what a block returns; bump when its content changes
#: (2: SGLD noise keyed by (run, step, chain); the diverged and diverged_step variables)
BLOCK_FORMAT = 2


def block_tasks(tc: TrainConfig, lc: LLCConfig | None, block_runs: int | None = None) -> list[Task]:
    """One task per block of ``block_runs`` runs (default: all runs in one block)."""
    size = block_runs or tc.runs
    tasks = []
    for lo in range(0, tc.runs, size):
        hi = min(tc.runs, lo + size)
        config = {"train": tc.to_dict(), "llc": None if lc is None else lc.to_dict(), "runs": [lo, hi]}
        # every stream of a run is keyed by the root seed and the run id (training) or by (run,
        # step, chain) (SGLD noise), so the task's seed is the root seed itself
        tasks.append(Task(f"sgd runs {lo}-{hi - 1}", config))
    return tasks


def run_block(task: Task, progress: bool = False) -> xr.Dataset:
    """Train (and estimate the LLC of) the runs of one block; a module-level task function."""
    cfg = task.config
    tc = TrainConfig.from_dict(cfg["train"])
    lo, hi = cfg["runs"]
    ds = train(tc, run_ids=range(lo, hi), progress=progress)
    if cfg["llc"] is not None:
        ds = estimate_llc(ds, LLCConfig.from_dict(cfg["llc"]), progress=progress)
    return ds


def validate_block(task: Task, ds: xr.Dataset) -> None:
    """Task validator of the SGD sweep: a block is a trajectory
    (:func:`comparisons.contracts.validate_trajectory`) of the block's runs; raises otherwise, so
    the sweep runner never stores such a block and recomputes one found in the store."""
    validate_trajectory(ds)
    lo, hi = task.config["runs"]
    if [int(r) for r in ds["run"].values] != list(range(lo, hi)):
        raise InputError(f"{task.name}: expected runs {lo}-{hi - 1}, got {[int(r) for r in ds['run'].values]}")


def assemble(blocks: list[xr.Dataset]) -> xr.Dataset:
    """Concatenate block Datasets along ``run`` (shared data kept once)."""
    if len(blocks) == 1:
        return blocks[0]
    shared = [v for v in blocks[0].data_vars if "run" not in blocks[0][v].dims]
    out = xr.concat([b.drop_vars(shared) for b in blocks], dim="run", combine_attrs="override")
    for v in shared:
        out[v] = blocks[0][v]
    return out


def save_trajectory(ds: xr.Dataset, path: str | Path) -> Path:
    """Validate a trajectory Dataset (:func:`comparisons.contracts.validate_trajectory`) and write it
    atomically to netCDF (h5netcdf); read it back with :func:`sgd_tms.load_trajectory`."""
    return write_netcdf(validate_trajectory(ds), path)


def save_plateaus(seq, runs: int, path: str | Path) -> Path:
    """Write the plateaus of :func:`sgd_tms.phases.phase_sequences` as the plateaus hand-off
    (:func:`sgd_tms.phases.labelled_plateaus`: with their path summary over ``runs``, the number of
    runs analysed, and their moves) to ``plateaus.nc``; :func:`comparisons.contracts.read_plateaus`
    reads it back, ``sequences.csv`` is its CSV export.
    """
    from sgd_tms.phases import labelled_plateaus

    return write_netcdf(labelled_plateaus(seq, runs, labelling="structure"), path)


# -- the job: train, estimate, label, write ----------------------------------------------------

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
    from sgd_tms.train import load_trajectory

    if not path.is_file():
        return None
    try:
        return validate_trajectory(load_trajectory(path))
    except InputError as exc:
        print(f"warning: {path} is damaged ({exc}); recomputing it", file=sys.stderr)
        return None


def run_ensemble(tc, lc, out_dir, *, progress: bool = True, force: bool = False, block_runs: int | None = None,
            plot_runs: int = 4, sweep: dict | None = None, yes: bool = False) -> JobResult:
    """Train the ensemble ``tc``, estimate its LLC with ``lc`` (None: none), label and segment it,
    and write every file into ``out_dir``.

    Returns the :class:`~comparisons.jobs.result.JobResult`: status 1 when every run diverged;
    ``compute_s`` the training and LLC time behind the results (reused ones with the time they
    took), ``cached`` whether they were reused, ``summary`` what ``summary.json`` holds.

    ``sweep``: ``executor, workers, scheduler, retries`` for the sweep runner (one task per block of
    ``block_runs`` runs).
    """
    import contextlib

    from ..folder import check_folder, owned_folder

    check_folder(out_dir, "sgd")  # refused before the estimate, not after it
    summary: dict = {"timings_s": {}}
    with recording("sgd", out_dir) as rec, contextlib.ExitStack() as stack:
        claimed = []

        def claim():  # the folder is claimed once the run is confirmed or its results are reused
            claimed.append(stack.enter_context(owned_folder(
                out_dir, "sgd", config={"train": tc.to_dict(), "llc": None if lc is None else lc.to_dict()})))
            return claimed[0].root

        try:
            status = _run(tc, lc, out_dir, progress=progress, force=force, block_runs=block_runs,
                          plot_runs=plot_runs, sweep=sweep or {}, yes=yes, claim=claim, summary_out=summary)
        except _AllDiverged as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
        if status == 0 and claimed:
            claimed[0].finish()
    timings = summary["timings_s"]
    return rec.result(status=status, compute_s=timings.get("train_and_llc_s"), cached=timings.get("cached", False),
                      summary=summary)


def _run(tc, lc, out_dir, *, progress: bool, force: bool, block_runs: int | None, plot_runs: int,
         sweep: dict, yes: bool, claim, summary_out: dict) -> int:
    """The job; ``summary_out`` (the caller's) is filled with what ``summary.json`` holds."""
    timings = summary_out["timings_s"]
    import numpy as np

    from sgd_tms.config import config_hash
    from sgd_tms.model import resolve_device
    from sgd_tms.phases import (
        compare_labellings,
        count_paper_sequence,
        label_checkpoints,
        path_fractions,
        phase_sequences,
        plateau_rank_correlation,
        time_in_phase,
        transition_counts,
    )
    from sgd_tms.plots import plateau_figure, staircase_figure
    from sgd_tms.train import diverged_runs

    from ..io import check_out_path, save_figure, write_json, write_text


    resolve_device(tc.device)
    out = check_out_path(out_dir)  # created below, once the run is confirmed or reused
    path = out / "trajectory.nc"
    ds = None if force else _existing(path)
    wanted = config_hash(tc) if lc is None else config_hash(tc, lc)
    if ds is not None and (ds.attrs.get("train_config_hash") != config_hash(tc)
                           or (lc is not None and ds.attrs.get("config_hash") != wanted)):
        ds = None
    if ds is None:
        import functools

        import torch

        from ..sweep import ResultStore, run_sweep

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
    summary_out.update(summary)
    save_figure(staircase_figure(ds, max_runs=plot_runs), out / "staircase.png")
    save_figure(plateau_figure(seq, ds.sizes["feature"]), out / "plateaus.png")
    print(f"{summary['plateaus']} plateaus in {summary['runs']} runs; paper sequence (4-family then 5) "
          f"in {summary['paper_sequence_runs']} runs; Spearman(loss, LLC) over plateaus = {rho:.3f}")
    print(f"wrote {out}")
    return 0
