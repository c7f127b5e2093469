"""The SGD job as a grid of run blocks for :func:`comparisons.sweep.run_sweep`, and its files.

A block trains runs ``lo..hi-1`` of the ensemble (run ``r`` is the same in any block: its data,
initialisation and minibatch order come from the named streams ``("sgd", "run", r, ...)`` of the
seed tree) and, when asked, estimates the LLC at every checkpoint of those runs. The SGLD noise is keyed by
(run, step, chain) (:class:`sgd_tms.kernels.KeyedNoise`), so the block size changes no number:
any blocking and any executor give the same results.
"""

from __future__ import annotations

__all__ = ["block_tasks", "run_block", "validate_block", "assemble", "save_trajectory", "save_plateaus", "BLOCK_FORMAT"]

import xarray as xr

from pathlib import Path

from sgd_tms.config import LLCConfig, TrainConfig
from sgd_tms.llc import estimate_llc
from sgd_tms.train import train, validate_trajectory

from ..contracts import plateaus_dataset
from ..errors import InputError
from ..io import write_netcdf
from ..sweep import Task

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
        tasks.append(Task(f"sgd runs {lo}-{hi - 1}", config, seed=tc.seed))
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
    from ..contracts import validate_trajectory

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
    """Validate a trajectory Dataset (:func:`sgd_tms.train.validate_trajectory`) and write it
    atomically to netCDF (h5netcdf); read it back with :func:`sgd_tms.load_trajectory`."""
    return write_netcdf(validate_trajectory(ds), path)


def save_plateaus(seq, runs: int, path: str | Path) -> Path:
    """Write the plateaus of :func:`sgd_tms.phases.phase_sequences` as the plateaus hand-off.

    With them go their path summary (:func:`sgd_tms.phases.path_fractions` over ``runs``, the
    number of runs analysed) and their moves (:func:`sgd_tms.phases.phase_moves`): the one
    summary that ``paths.csv``, ``transitions.csv`` and the report show. The file is
    ``plateaus.nc`` (:func:`comparisons.contracts.read_plateaus` reads it back;
    ``sequences.csv`` is its CSV export).
    """
    from sgd_tms.phases import path_fractions, phase_moves

    return write_netcdf(plateaus_dataset(seq, runs=runs, paths=path_fractions(seq, runs=runs),
                                         moves=phase_moves(seq)), path)
