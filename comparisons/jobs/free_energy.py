"""The SMC free-energy job: one task per ``n`` for the sweep runner (keyed by its settings), and the
whole job (:func:`free_energy_job`: the SMC ladder, local free energies, crossings, files)."""

from __future__ import annotations

__all__ = ["free_energy_job", "smc_tasks", "smc_task", "validate_smc"]

import json
from dataclasses import replace
from pathlib import Path


from bayes_tms.cache import ModelCache
from bayes_tms.model import build_model, resolve_likelihood
from bayes_tms.config import SMCConfig
from bayes_tms.smc import SMCResult, smc_log_evidence

from ..errors import InputError
from ..sweep import Task
from ..theory import sample_inputs

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

def _read_bayes_dir(path: str, config) -> list[dict]:
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
    from ..contracts import occupancy_rows, read_occupancy

    occ = read_occupancy(lm)
    if "log_mass" not in occ:
        raise InputError(f"--bayes-dir: expected a ladder-bridge run (log_mass in occupancy.nc), got {path!r}")
    rows = occupancy_rows(occ, "nuts_bridge", variable="log_mass")
    for r in rows:
        r["n"] = int(r["n"])
    have = {r["n"] for r in rows}
    missing = [n for n in config.ns if n not in have]
    if missing:
        raise InputError(f"--bayes-dir: expected a ladder with every requested n, got {path!r} without "
                         f"n = {', '.join(map(str, missing))} (it has {', '.join(map(str, sorted(have)))}); "
                         "run bayes on those n or drop them from --n")
    return rows


def free_energy_job(config, out_dir, *, bayes_dir: str | Path | None = None, sweep: dict | None = None,
                    yes: bool = False) -> int:
    """The SMC ladder of ``config`` (:class:`bayes_tms.config.SMCConfig`) and its files in ``out_dir``.

    ``bayes_dir``: a NUTS run's folder (its ladder-bridge masses, and its occupancy beside SMC's
    in ``occupancy_compare.csv``); ``sweep``: :func:`comparisons.sweep.run_sweep` keywords
    (``progress`` among them). Returns the exit status. The folder is owned by this job
    (:func:`comparisons.folder.owned_folder`).
    """
    bayes_dir = None if bayes_dir is None else str(bayes_dir)
    bridge = _read_bayes_dir(bayes_dir, config) if bayes_dir else []
    from ..cost import confirm, smc_seconds
    from ..io import check_out_path

    check_out_path(out_dir)
    from ..folder import check_folder

    check_folder(out_dir, "free-energy")  # refused before the estimate, not after it
    confirm(smc_seconds(len(config.ns), config.particles, config.runs, config.mutation_steps),
            f"{len(config.ns)} n x {config.runs} SMC runs x {config.particles} particles", yes)
    from ..folder import owned_folder

    with owned_folder(out_dir, "free-energy", sampler="smc",
                      config={"config": config.to_dict(), "bayes_dir": bayes_dir}) as folder:
        status = _free_energy_files(config, folder.root, bayes_dir, bridge, sweep)
        if status == 0:
            folder.finish()
    return status


def _free_energy_files(config, out: Path, bayes_dir: str | None, bridge: list, sweep: dict | None) -> int:
    import numpy as np

    from ..io import save_figure, write_csv, write_json
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
        return res.exit_status()
    results = list(res.results)
    logz = np.array([r.log_evidence_mean for r in results])
    se = np.array([r.log_evidence_se for r in results])
    spread = np.array([np.ptp(r.log_evidence) if r.log_evidence.size > 1 else np.nan for r in results])
    ev_rows, const = evidence_table(ns, logz, se, phases, prior_sigma=config.prior_sigma, spread=spread,
                                    beta=config.beta)
    for row, r in zip(ev_rows, results):
        row.update(particles=r.particles, runs=r.log_evidence.size, stages=r.stages, wall_s=r.wall_s)
    occ = [row for r in results for row in r.fractions()]
    evidence = {r.n: (r.log_evidence_mean, r.log_evidence_se) for r in results}
    smc_mass = [{"n": o["n"], "phase": o["phase"], "log_mass": float(np.log(o["fraction"])),
                 "lower": float(np.log(o["lower"])) if o["lower"] > 0 else float(np.log(o["fraction"])),
                 "upper": float(np.log(o["upper"]))} for o in occ if o["fraction"] > 0]
    phase_rows = local_free_energies(evidence, smc_mass, phases, const, config.prior_sigma, "smc_particles",
                                     beta=config.beta)
    if bridge:
        phase_rows += local_free_energies(evidence, bridge, phases, const, config.prior_sigma, "nuts_bridge",
                                          beta=config.beta)
    primary = [r for r in phase_rows if r["method"] == ("nuts_bridge" if bridge else "smc_particles")]
    cross = measured_crossings(primary, phases, prior_sigma=config.prior_sigma, beta=config.beta)
    for c in cross:
        c["method"] = primary[0]["method"] if primary else ""
    write_csv(out / "free_energy.csv", ev_rows,
              ["n", "log_evidence", "se", "spread", "free_energy", "asymptotic_min_F", "asymptotic_lse_F",
               "constant", "dominant_asymptotic", "particles", "runs", "stages", "wall_s"])
    write_csv(out / "free_energy_phases.csv", phase_rows,
              ["n", "phase", "method", "measured_F", "lower", "upper", "asymptotic_F"])
    write_csv(out / "smc_occupancy.csv", occ, ["n", "phase", "fraction", "lower", "upper", "se", "runs", "particles"])
    if bayes_dir:  # SMC beside the NUTS ladder bridge, in the long format of reproduce's table
        from ..analysis import OCCUPANCY_COMPARE_COLUMNS, long_occupancy
        from ..contracts import occupancy_rows, read_occupancy

        nuts = occupancy_rows(read_occupancy(Path(bayes_dir) / "occupancy.nc"), "nuts_bridge")
        write_csv(out / "occupancy_compare.csv", long_occupancy({"smc": occ, "nuts_bridge": nuts}),
                  OCCUPANCY_COMPARE_COLUMNS)
    write_json(out / "timing.json", {"compute_s": res.total_compute_s, "cached": bool(res.reused)})
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
    return 0
