"""The SMC free-energy job: one task per ``n`` for the sweep runner (keyed by its settings), and the
whole job (:func:`free_energy_job`: the SMC ladder, local free energies, crossings, files)."""

from __future__ import annotations

__all__ = ["free_energy_job", "smc_tasks", "smc_task", "validate_smc"]

import json
from dataclasses import replace
from pathlib import Path

import numpy as np


from bayes_tms.cache import ModelCache
from bayes_tms.model import build_model, resolve_likelihood
from bayes_tms.config import SMCConfig
from bayes_tms.smc import SMCResult, smc_log_evidence

from ..errors import InputError
from ..sweep import Task
from ..theory import sample_inputs
from .result import JobResult, recording

#: the packages whose versions key a stored SMC task (a new version recomputes it)
SMC_VERSIONS = ("pymc", "pytensor", "numpy")
_TASK_MODELS = ModelCache("smc tasks")  # compiled models reused by the SMC tasks a worker runs


def smc_tasks(config) -> list:
    """One :class:`comparisons.sweep.Task` per ``n`` of ``config.ns`` (an :class:`SMCConfig`): SMC
    on ``sample_inputs(n, features, seed)``; the task's key is the config of that one ``n``."""
    return [Task(f"smc n={n}", {"config": replace(config, ns=(int(n),)).to_dict()}) for n in config.ns]


def smc_task(task) -> SMCResult:
    """Run one task of :func:`smc_tasks` (module level, so any executor can run it).

    Data ``sample_inputs(n, c, seed)`` is the first ``n`` rows of the nested stream; the run's
    stream is the engine's, ``child_sequence(seed, "bayes", "smc", n)``.
    """
    cfg = dict(task.config["config"])
    config = SMCConfig(**{**cfg, "ns": tuple(cfg["ns"])})
    (n,) = config.ns
    x = sample_inputs(n, config.features, config.seed)
    kind = resolve_likelihood(x, "auto")
    key = (kind, config.features, config.hidden, config.beta, config.prior_sigma)
    model = _TASK_MODELS.get(key, lambda: build_model(x, hidden=config.hidden, beta=config.beta,
                                                      prior_sigma=config.prior_sigma, likelihood=kind))
    return smc_log_evidence(x, config, model=model)


def validate_smc(task, result) -> None:
    """Task validator of the SMC sweep: a stored result is an :class:`SMCResult` of the task's ``n``
    with a finite ``log Z`` per run and finite final particles; raises otherwise, so the sweep
    runner never stores such a result and recomputes one found in the store (with a warning)."""
    import numpy as np

    from ..errors import InputError

    n = int(task.config["config"]["ns"][0])
    if not isinstance(result, SMCResult) or int(result.n) != n:
        raise InputError(f"{task.name}: expected the SMC result of n = {n}, got {type(result).__name__}")
    for name in ("log_evidence", "W", "b"):
        values = np.asarray(getattr(result, name), dtype=float)
        if values.size == 0 or not np.isfinite(values).all():
            raise InputError(f"{task.name}: expected finite {name}, got NaN/inf or none")


# -- the job ----------------------------------------------------------------------------------------

def _read_bayes_dir(path: str, config):
    d = Path(path)
    lm, cfg = d / "occupancy.nc", d / "config.json"
    if not lm.is_file():
        raise InputError(f"--bayes-dir: expected a folder with occupancy.nc, got {path!r}")
    if cfg.is_file():
        conf = json.loads(cfg.read_text())
        for key, want in (("features", config.features), ("seed", config.seed), ("beta", config.beta),
                          ("prior_sigma", config.prior_sigma)):
            if key in conf and float(conf[key]) != float(want):
                raise InputError(f"--bayes-dir: expected a run with {key} = {want}, got {conf[key]}")
    from ..contracts import read_occupancy

    occ = read_occupancy(lm)
    if "log_mass" not in occ or "nuts_bridge" not in occ["estimator"].values:
        raise InputError(f"--bayes-dir: expected a ladder-bridge run (log_mass in occupancy.nc), got {path!r}")
    occ = occ.sel(estimator=["nuts_bridge"])
    have = {int(n) for n, ok in zip(occ["n"].values, np.isfinite(occ["log_mass"].values[0]).any(axis=1)) if ok}
    missing = [n for n in config.ns if n not in have]
    if missing:
        raise InputError(f"--bayes-dir: expected a ladder with every requested n, got {path!r} without "
                         f"n = {', '.join(map(str, missing))} (it has {', '.join(map(str, sorted(have)))}); "
                         "run bayes on those n or drop them from --n")
    return occ


def free_energy_job(config, out_dir, *, bayes_dir: str | Path | None = None, sweep: dict | None = None,
                    yes: bool = False) -> JobResult:
    """The SMC ladder of ``config`` (:class:`bayes_tms.config.SMCConfig`) and its files in ``out_dir``.

    ``bayes_dir``: a NUTS run's folder (its ladder-bridge masses, and its occupancy beside SMC's
    in ``occupancy_compare.csv``); ``sweep``: :func:`comparisons.sweep.run_sweep` keywords
    (``progress`` among them). Returns the :class:`~comparisons.jobs.result.JobResult` (its
    ``compute_s`` and ``cached`` also in ``timing.json``). The folder is owned by this job
    (:func:`comparisons.folder.owned_folder`).
    """
    bayes_dir = None if bayes_dir is None else str(bayes_dir)
    bridge = _read_bayes_dir(bayes_dir, config) if bayes_dir else None
    from ..cost import confirm, smc_seconds
    from ..io import check_out_path

    check_out_path(out_dir)
    from ..folder import check_folder

    check_folder(out_dir, "free-energy")  # refused before the estimate, not after it
    confirm(smc_seconds(config.ns, config.particles, config.runs, config.mutation_steps, beta=config.beta,
                        **{k: (sweep or {}).get(k) for k in ("workers", "scheduler")},
                        executor=(sweep or {}).get("executor", "inline")),
            f"{len(config.ns)} n x {config.runs} SMC runs x {config.particles} particles", yes)
    from ..folder import owned_folder

    with (recording("free-energy", out_dir) as rec,
          owned_folder(out_dir, "free-energy", sampler="smc",
                       config={"config": config.to_dict(), "bayes_dir": bayes_dir}) as folder):
        status, timing = _free_energy_files(config, folder.root, bayes_dir, bridge, sweep)
        if status == 0:
            folder.finish()
    return rec.result(status=status, **timing)


def _free_energy_files(config, out: Path, bayes_dir: str | None, bridge, sweep: dict | None) -> tuple[int, dict]:
    import numpy as np

    from ..contracts import combine_occupancy
    from ..io import save_figure, write_csv, write_dataset_csv, write_json, write_netcdf
    from ..free_energy_measured import (evidence_table, local_free_energies, measured_crossings,
                                        plot_free_energy)
    from ..theory import enumerate_phases

    ns = list(config.ns)
    phases = enumerate_phases(config.features)
    from ..contracts import package_versions
    from ..sweep import ResultStore, run_sweep

    tasks = smc_tasks(config)
    store = ResultStore(out / "tasks", result_format=1, versions=package_versions(*SMC_VERSIONS))
    res = run_sweep(tasks, smc_task, store, desc="smc", validate=validate_smc, **(sweep or {}))
    if not res.ok:
        return res.exit_status(), {}
    results = list(res.results)
    logz = np.array([r.log_evidence_mean for r in results])
    se = np.array([r.log_evidence_se for r in results])
    spread = np.array([np.ptp(r.log_evidence) if r.log_evidence.size > 1 else np.nan for r in results])
    ev_rows, const = evidence_table(ns, logz, se, phases, prior_sigma=config.prior_sigma, spread=spread,
                                    beta=config.beta)
    for row, r in zip(ev_rows, results):
        row.update(particles=r.particles, runs=r.log_evidence.size, stages=r.stages, wall_s=r.wall_s)
    meta = {"features": config.features, "beta": config.beta, "prior_sigma": config.prior_sigma,
            "seed": config.seed, "particles": config.particles, "classifier": config.classifier}
    occ = combine_occupancy([r.fractions() for r in results], "n", attrs=meta)
    evidence = {r.n: (r.log_evidence_mean, r.log_evidence_se) for r in results}
    f, lo, hi = (occ[k].where(occ["fraction"] > 0) for k in ("fraction", "lower", "upper"))
    with np.errstate(divide="ignore", invalid="ignore"):  # the particles' masses, for the local free energies
        smc_mass = occ.assign(log_mass=np.log(f), log_mass_lower=np.log(lo.where(lo > 0, f)),
                              log_mass_upper=np.log(hi))
    phase_rows = local_free_energies(evidence, smc_mass, phases, const, config.prior_sigma, "smc_particles",
                                     beta=config.beta)
    if bridge is not None:
        phase_rows += local_free_energies(evidence, bridge, phases, const, config.prior_sigma, "nuts_bridge",
                                          beta=config.beta)
    primary = [r for r in phase_rows if r["method"] == ("nuts_bridge" if bridge is not None else "smc_particles")]
    cross = measured_crossings(primary, phases, prior_sigma=config.prior_sigma, beta=config.beta)
    for c in cross:
        c["method"] = primary[0]["method"] if primary else ""
    write_csv(out / "free_energy.csv", ev_rows,
              ["n", "log_evidence", "se", "spread", "free_energy", "asymptotic_min_F", "asymptotic_lse_F",
               "constant", "dominant_asymptotic", "particles", "runs", "stages", "wall_s"])
    write_csv(out / "free_energy_phases.csv", phase_rows,
              ["n", "phase", "method", "measured_F", "lower", "upper", "asymptotic_F"])
    write_netcdf(occ, out / "smc_occupancy.nc")
    write_dataset_csv(out / "smc_occupancy.csv", occ, ["n", "phase", "fraction", "lower", "upper", "se", "runs",
                                                       "particles"])
    if bridge is not None:  # SMC beside the NUTS ladder bridge, in the long format of reproduce's table
        from ..analysis import OCCUPANCY_COMPARE_COLUMNS

        cols = ["fraction", "lower", "upper", "chains"]
        write_dataset_csv(out / "occupancy_compare.csv", combine_occupancy([occ[cols], bridge[cols]]),
                          OCCUPANCY_COMPARE_COLUMNS, sort=("n", "phase", "estimator"))
    timing = {"compute_s": res.total_compute_s, "cached": bool(res.reused)}
    write_json(out / "timing.json", timing)
    write_json(out / "crossings_measured.json", cross)
    fig = plot_free_energy(ev_rows, phase_rows, cross, features=config.features, beta=config.beta)
    save_figure(fig, out / "free_energy.png")
    write_json(out / "config.json", {"features": config.features, "n": ns, "particles": config.particles,
                                     "runs": config.runs, "mutation_steps": config.mutation_steps,
                                     "seed": config.seed, "beta": config.beta, "prior_sigma": config.prior_sigma,
                                     "bayes_dir": bayes_dir, "kernel": config.kernel,
                                     "constant_fitted_at_n": ns[0]})
    print(f"free-energy: {len(ns)} n x {config.runs} SMC runs x {config.particles} particles in "
          f"{sum(r.wall_s for r in results):.1f} s; constant C = {const:.3f} (fitted at n = {ns[0]})")
    for c in cross:
        if c["dominant"]:
            print(json.dumps(c))
    print(f"outputs in {out}")
    return 0, timing
