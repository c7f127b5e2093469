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
# # The TMS theory layer: potential, k-gons, classifier, free energy
#
# A walk through `comparisons.theory`, the numpy "truth" that both engines are tested against.
# Everything here is exact or solved to ~1e-13; nothing comes from a table.

# %%
import numpy as np
import matplotlib.pyplot as plt

from comparisons.theory import (classify, crossings, dominant_intervals, empirical_loss, enumerate_phases,
                                free_energy, population_loss, sample_inputs)

C = 6

# %% [markdown]
# ## The closed-form population loss
# The empirical loss of a seeded data set converges to the closed form as n grows.

# %%
rng = np.random.default_rng(0)
W, b = rng.normal(size=(2, C)), 0.3 * rng.normal(size=C)
x = sample_inputs(100_000, C, rng=1)
for n in (100, 1_000, 10_000, 100_000):
    print(f"n = {n:>6}:  L_n = {empirical_loss(W, b, x[:n]):.5f}   L = {population_loss(W, b):.5f}")

# %% [markdown]
# ## The k-gon critical points
# Each phase is a decorated regular polygon; its gradient norm proves criticality.

# %%
phases = enumerate_phases(C)
print(f"{'label':>6} {'l*':>8} {'b*':>9} {'loss':>9} {'llc':>6} {'|grad|':>9}")
for p in phases[:8]:
    llc = f"{p.llc:g}" if p.llc is not None else f"<={p.llc_bound:g}"
    print(f"{p.label:>6} {p.length:8.5f} {p.bias:9.5f} {p.loss:9.5f} {llc:>6} {p.grad_norm:9.1e}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(9, 3))
for ax, p in zip(axes, phases[:3]):
    for i in range(C):
        ax.arrow(0, 0, *p.W[:, i], head_width=0.05, length_includes_head=True)
    ax.set_title(p.label)
    ax.set_aspect("equal")
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.6, 1.6)
plt.show()

# %% [markdown]
# ## The classifier
# Labels are invariant under rotations and permutations, and robust to small noise.

# %%
six = phases[0]
theta = 0.7
Q = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
perm = rng.permutation(C)
noisy_W = (Q @ six.W)[:, perm] + 0.02 * rng.normal(size=(2, C))
noisy_b = six.b[perm] + 0.02 * rng.normal(size=C)
print(classify(noisy_W, noisy_b, phases))
print(classify(rng.normal(size=(2, C)), rng.normal(size=C), phases))

# %% [markdown]
# ## Free energy and the dominant phase
# `F_n = n L + lambda log n + |w*|^2/2`: simple phases win at small n, accurate ones at large n.

# %%
n = np.logspace(1, 4, 200)
shown = [p for p in phases if p.label in ("4", "4+", "5", "5+", "6")]
F = free_energy(shown, n)
for p, f in zip(shown, F):
    plt.plot(n, f - F.min(axis=0), label=p.label)
plt.xscale("log")
plt.ylim(0, 15)
plt.xlabel("n")
plt.ylabel("F_n - min F_n")
plt.legend()
plt.show()
print(dominant_intervals(phases, 10, 1e6))
print([e for e in crossings(shown, 1e6) if e["n"] > 50])
