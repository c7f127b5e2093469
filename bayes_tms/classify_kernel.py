"""The compiled (numba) twin of the hull rule's structure count, for labelling many draws.

:func:`comparisons.theory.classify` with ``rule="hull"`` counts, per draw, the convex-hull vertices
``k`` of the non-negligible columns of ``W``, the ``+`` decorations ``sigma`` and the switched-off
vertices ``phi`` (:func:`comparisons.theory.classify.hull_structure`), vectorised over draws in
numpy with ``O(c^3)`` temporaries per draw. A paper-preset PT run labels about 250,000 draws
(8 copies x 1500 draws x 21 rungs), and that count was a tenth of the run. This module does the
same count in one compiled loop per draw, with the same floating-point operations in the same
order (no ``fastmath``): every norm, cross and dot product, tolerance and comparison of the numpy
rule is evaluated identically, so the counts, and hence the labels, are the same, draw for draw
(``tests/test_classify_kernel.py`` checks them against the numpy rule on posterior-like, k-gon and
degenerate draws). The numpy function stays the reference; the labels and the distances are made
from the counts by :func:`comparisons.theory.classify.hull_labels`, shared by both paths.

Importing this module compiles nothing: the kernel is compiled on first use and cached on disk.
"""

from __future__ import annotations

__all__ = ["classify_hull_compiled", "hull_structure_compiled"]

import numba
import numpy as np

from comparisons.theory.classify import HULL_TOL, PRESENT_NORM, check_weights, hull_labels


@numba.njit(cache=True, nogil=True)
def _hull_structure(W, b, tol, present_norm, k_out, sigma_out, phi_out):  # pragma: no cover - compiled
    m, _, c = W.shape
    norms = np.empty(c)
    present = np.empty(c, dtype=np.bool_)
    D0 = np.empty(c)
    D1 = np.empty(c)
    dn = np.empty(c)
    valid = np.empty(c, dtype=np.bool_)
    dup = np.empty(c, dtype=np.bool_)
    vert = np.empty(c, dtype=np.bool_)
    for t in range(m):
        scale = 0.0
        for i in range(c):
            x = W[t, 0, i]
            y = W[t, 1, i]
            nrm = np.sqrt(x * x + y * y)
            norms[i] = nrm
            present[i] = nrm >= present_norm
            if present[i] and nrm > scale:
                scale = nrm
        for i in range(c):
            if not present[i]:
                vert[i] = False
                continue
            any_valid = False
            dup_before = False
            for j in range(c):
                d0 = W[t, 0, j] - W[t, 0, i]
                d1 = W[t, 1, j] - W[t, 1, i]
                D0[j] = d0
                D1[j] = d1
                dn[j] = np.sqrt(d0 * d0 + d1 * d1)
                other = present[j] and j != i
                dup[j] = other and dn[j] <= tol * scale
                valid[j] = other and not dup[j]
                if valid[j]:
                    any_valid = True
                if dup[j] and j < i:
                    dup_before = True
            extreme = not any_valid
            if not extreme:
                for a in range(c):
                    if not valid[a]:
                        continue
                    all_ok = True
                    for j in range(c):
                        if not valid[j]:
                            continue
                        cross = D0[a] * D1[j] - D1[a] * D0[j]
                        dot = D0[a] * D0[j] + D1[a] * D1[j]
                        lim = tol * dn[a] * dn[j]
                        if not (cross > lim or (np.abs(cross) <= lim and dot > 0)):
                            all_ok = False
                            break
                    if all_ok:
                        extreme = True
                        break
            vert[i] = extreme and not dup_before
        k = 0
        sigma = 0
        phi = 0
        for i in range(c):
            if vert[i]:
                k += 1
                if norms[i] * norms[i] + b[t, i] <= 0:
                    phi += 1
            if not present[i] and b[t, i] > 0:
                sigma += 1
        k_out[t] = k
        sigma_out[t] = sigma
        phi_out[t] = phi


def hull_structure_compiled(W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compiled twin of :func:`comparisons.theory.classify.hull_structure`: the same ``(k, sigma, phi)``.

    Parameters
    ----------
    W : array_like, shape (..., 2, c)
    b : array_like, shape (..., c)

    Returns
    -------
    k, sigma, phi : ndarray of int, shape (...)
    """
    W, b = check_weights(W, b)
    batch, c = W.shape[:-2], W.shape[-1]
    Wf = np.ascontiguousarray(W.reshape(-1, 2, c))
    bf = np.ascontiguousarray(b.reshape(-1, c))
    out = [np.empty(Wf.shape[0], dtype=np.int64) for _ in range(3)]
    _hull_structure(Wf, bf, float(HULL_TOL), float(PRESENT_NORM), *out)
    return tuple(v.reshape(batch) for v in out)


def classify_hull_compiled(W: np.ndarray, b: np.ndarray, phases) -> tuple[np.ndarray, np.ndarray]:
    """``classify(W, b, phases, rule="hull")`` with the compiled structure count (same labels and distances).

    ``W (..., 2, c)`` and ``b (..., c)`` must be finite (as :func:`comparisons.theory.classify`
    requires); returns ``labels (...)`` and ``distance (...)``.
    """
    from comparisons.errors import check_finite_array

    W, b = check_weights(check_finite_array("W", W), check_finite_array("b", b))
    batch, c = W.shape[:-2], W.shape[-1]
    Wf, bf = W.reshape(-1, 2, c), b.reshape(-1, c)
    labels, dist = hull_labels(Wf, bf, hull_structure_compiled(Wf, bf), tuple(phases))
    return labels.reshape(batch), dist.reshape(batch)
