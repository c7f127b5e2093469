"""The on-disk cache of the k-gon enumeration: the same phases, and a damaged file is recomputed."""

import numpy as np

from comparisons.theory import kgons


def _same(a, b) -> bool:
    return [p.label for p in a] == [p.label for p in b] and all(
        np.array_equal(p.W, q.W) and np.array_equal(p.b, q.b) and p.loss == q.loss and p.llc == q.llc
        and np.array_equal(p.hessian_eigenvalues, q.hessian_eigenvalues) for p, q in zip(a, b))


def test_the_cached_enumeration_is_the_solved_one(tmp_path, monkeypatch):
    monkeypatch.setenv(kgons.CACHE_ENV, str(tmp_path))
    solved = kgons._solve_phases(4)
    first = kgons._disk_cached(4, lambda: kgons._solve_phases(4))
    (path,) = tmp_path.glob("phases_c4_*.pkl")
    assert path == kgons._cache_file(4)
    again = kgons._disk_cached(4, lambda: (_ for _ in ()).throw(AssertionError("recomputed")))
    assert _same(first, solved) and _same(again, solved)


def test_a_damaged_cache_file_is_recomputed_and_off_disables_it(tmp_path, monkeypatch):
    monkeypatch.setenv(kgons.CACHE_ENV, str(tmp_path))
    path = kgons._cache_file(4)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a pickle")
    assert _same(kgons._disk_cached(4, lambda: kgons._solve_phases(4)), kgons._solve_phases(4))
    monkeypatch.setenv(kgons.CACHE_ENV, "off")
    assert kgons._cache_file(4) is None
