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
# # SGD trajectories against the Bayesian posterior
#
# An ensemble of SGD runs (one batched torch program), the LLC at every checkpoint by localised
# SGLD, the phase of every checkpoint, and the same loss-against-LLC plane as the Bayesian
# phases. Set `TMS_NOTEBOOK_SCALE=tiny` for a seconds-long run; the default is 16 runs of the
# paper protocol (about a minute on two cores).

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from comparisons.compare import monotone_verdict, phase_coordinates
from comparisons.theory import enumerate_phases, laplace_crossing
from sgd_tms import LLCConfig, estimate_llc, label_checkpoints, phase_moves, phase_sequences, preset, train

TINY = os.environ.get("TMS_NOTEBOOK_SCALE") == "tiny"
config = preset("smoke", runs=3, epochs=20, checkpoint_every=5) if TINY else preset("paper", runs=16)
llc_config = LLCConfig(chains=2, draws=20) if TINY else LLCConfig()
ds = train(config)
ds = estimate_llc(ds, llc_config)
ds = label_checkpoints(ds)
ds

# %% [markdown]
# ## Loss and LLC along a few runs

# %%
phases = enumerate_phases(config.features)
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
for r in range(min(4, ds.sizes["run"])):
    ax1.plot(ds["epoch"], ds["loss"].isel(run=r))
    ax2.plot(ds["epoch"], ds["llc"].isel(run=r))
for p in phases[:6]:
    ax1.axhline(p.loss, color="0.8", lw=0.7)
    ax1.text(float(ds["epoch"].max()), p.loss, p.label, fontsize=7, va="center")
ax1.set_ylabel("loss")
ax2.set_ylabel("LLC")
ax2.set_xlabel("epoch")
plt.show()

# %% [markdown]
# ## Plateaus, transitions, and the comparison with the posterior

# %%
seq = phase_sequences(ds)
plateaus = seq.drop(columns="points").to_dict(orient="records")
moves = phase_moves(seq)
coords = phase_coordinates(phases)
print(monotone_verdict("SGD", zip(moves["from"], moves["to"]), coords).line())
by = {p.label: p for p in phases}
print("Bayesian 5 -> 6 switch predicted with O(1) terms at n =",
      round(laplace_crossing(by["5"], by["6"], samples=20_000 if TINY else 200_000)))
x = [p["loss"] for p in plateaus if np.isfinite(p["llc"])]
y = [p["llc"] for p in plateaus if np.isfinite(p["llc"])]
plt.scatter(x, y, s=12, alpha=0.5, label="SGD plateaus")
for label, (loss, llc) in coords.items():
    if label in ("4", "4+", "4++", "5", "5+", "6"):
        plt.plot(loss, llc, "k+")
        plt.annotate(label, (loss, llc))
plt.xlabel("loss")
plt.ylabel("LLC")
plt.legend()
plt.show()
