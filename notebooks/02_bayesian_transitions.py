# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Bayesian phase transitions with NUTS, and how to check them
#
# The posterior `N(0,1) prior x exp(-n L_n)` is sampled at a ladder of n (nested data sets).
# Every draw is classified into a phase. Raw coordinates are meaningless on this posterior
# (rotations and relabellings of the features leave it unchanged), so the diagnostics use
# invariants: the empirical loss, the column norms and the phase label.
#
# Set `TMS_NOTEBOOK_SCALE=tiny` to run in seconds (the test suite does); the default is the
# `quick` preset (under a minute with nutpie).

# %%
import os
from pathlib import Path

import arviz as az
import matplotlib.pyplot as plt
import numpy as np

from bayes_tms import preset_config
from bayes_tms.reweight import reweighted_occupancy
from bayes_tms.sampling import nested_data, read_posterior
from comparisons.jobs.bayes import posterior_path, run_bayes

TINY = os.environ.get("TMS_NOTEBOOK_SCALE") == "tiny"
OUT = Path(os.environ.get("TMS_NOTEBOOK_OUT", "runs")) / "notebook-bayes"
config = preset_config("quick", features=6)
if TINY:
    config = config.replace(ns=(100, 200, 300), chains=4, draws=40, warmup=40, backend="pymc", cores=1,
                            bootstrap=50)
config

# %%
result = run_bayes(config, OUT, progress=False).summary  # the job's JobResult: files, timings, summary
print(f"{result['draws_total']} draws, {result['divergences']} divergences, {result['wall_s']:.0f} s")
result["transitions"].to_dataframe()  # the transitions hand-off: one row per switch

# %% [markdown]
# ## Invariant diagnostics per phase
# Trace and rank plots of the empirical loss, grouped by each chain's majority phase.
# R-hat near 1 *within* a phase with R-hat far from 1 over all chains is the signature of a
# multimodal posterior whose chains do not cross between phases.

# %%
n = config.ns[-1]
idata = read_posterior(posterior_path(OUT, n))
labels = idata.posterior["phase"].values
majority = [max(set(row), key=list(row).count) for row in labels]
print("majority phase per chain:", majority)
loss = idata.posterior["empirical_loss"]
az.plot_trace(loss, compact=False, figsize=(8, 3))
plt.show()
az.plot_rank(loss, figsize=(8, 3))
plt.show()
for phase in sorted(set(majority)):
    chains = [i for i, m in enumerate(majority) if m == phase]
    if len(chains) >= 2:
        sub = loss.isel(chain=chains)
        print(f"phase {phase}: {len(chains)} chains, R-hat {float(az.rhat(sub)['empirical_loss']):.3f}, "
              f"ESS {float(az.ess(sub)['empirical_loss']):.0f}")
print(f"all chains: R-hat {float(az.rhat(loss)['empirical_loss']):.3f}")

# %% [markdown]
# ## Occupancy: raw draw fractions against ladder bridge reweighting
# Raw fractions count draws; at large n they measure where the chains' prior starts fell. The
# reweighted masses chain within-phase likelihood ratios between neighbouring n instead.

# %%
posts = {m: read_posterior(posterior_path(OUT, m)) for m in config.ns}
occ, reps = reweighted_occupancy(posts, nested_data(config), B=200)  # labelled: (estimator, n, phase)
fig, ax = plt.subplots(figsize=(7, 3.5))
for phase in occ["phase"].values:
    mass = occ["fraction"].sel(estimator="nuts_bridge", phase=phase).dropna("n")
    ax.plot(mass["n"], mass, marker="o", label=phase)
ax.set_xscale("log")
ax.set_xlabel("n")
ax.set_ylabel("posterior mass")
ax.legend(fontsize=7)
plt.show()
