"""The seed tree (comparisons.theory.streams): named streams are stable, distinct and collision-free."""

import numpy as np
import pytest

from comparisons.errors import InputError
from comparisons.theory import child_rng, child_seed, child_sequence, sample_inputs


def _state(ss):
    return tuple(ss.generate_state(4))


def test_same_path_same_stream_and_other_paths_differ():
    assert _state(child_sequence(3, "bayes", "nuts", 400, "chain", 2)) == \
        _state(child_sequence(3, "bayes", "nuts", 400, "chain", 2))
    paths = [("bayes", "nuts", 400, "chain", k) for k in range(4)] + [
        ("bayes", "nuts", 401, "chain", 0), ("bayes", "pt", "main"), ("bayes", "pt", "pilot"), ("data",),
        ("sgd", "run", 0, "data"), ("sgd", "run", 0, "init"), ("sgd", "run", 1, "data"), ()]
    states = {_state(child_sequence(3, *p)) for p in paths}
    assert len(states) == len(paths)
    assert _state(child_sequence(3, "data")) != _state(child_sequence(4, "data"))


def test_no_collision_with_plain_spawn_or_between_names_and_integers():
    # the old rule had no tag: child_sequence(0, 1) equalled SeedSequence(0).spawn(2)[1]
    spawned = {_state(s) for s in np.random.SeedSequence(0).spawn(8)}
    assert not any(_state(child_sequence(0, k)) in spawned for k in range(8))
    assert _state(child_sequence(0)) != _state(np.random.SeedSequence(0))
    # a name and the integer equal to its 32-bit hash are different parts
    import hashlib
    word = int.from_bytes(hashlib.sha256(b"data").digest()[:4], "little")
    assert _state(child_sequence(0, "data")) != _state(child_sequence(0, word))
    # (1, 2) is not (1,) followed by 2 spread over words, nor (12,)
    assert _state(child_sequence(0, 1, 2)) != _state(child_sequence(0, 12))


@pytest.mark.parametrize("bad", [2**32, -1, 1.5, True, None])
def test_bad_path_parts_are_refused(bad):
    with pytest.raises(InputError, match="seed path"):
        child_sequence(0, "x", bad)


def test_child_seed_and_rng_follow_the_sequence():
    s = child_seed(5, "bayes", "dataset", 2)
    assert 0 <= s < 2**31 and s == child_seed(5, "bayes", "dataset", 2)
    a = child_rng(5, "data").random(3)
    np.testing.assert_array_equal(a, np.random.default_rng(child_sequence(5, "data")).random(3))


def test_int_seeded_data_is_the_data_stream():
    x = sample_inputs(50, 4, 9)
    np.testing.assert_array_equal(x, sample_inputs(50, 4, child_rng(9, "data")))
    np.testing.assert_array_equal(x[:20], sample_inputs(20, 4, 9))  # prefix-stable


def test_recorded_rules_are_the_rules_used():
    """The SGD data and the PT/NUTS streams are the named children the recorded rules describe."""
    from bayes_tms.config import BayesConfig
    from bayes_tms.pt import SEED_RULE as PT_RULE
    from bayes_tms.sampling import SEED_RULES, chain_generators, n_seed
    from sgd_tms.config import TrainConfig
    from sgd_tms.train import SEED_RULE as SGD_RULE, training_data

    tc = TrainConfig(runs=3, n=40, epochs=2, seed=11)
    x = training_data(tc, [2])
    np.testing.assert_array_equal(x[0], sample_inputs(40, 6, child_rng(11, "sgd", "run", 2, "data")))
    assert "'sgd', 'run', r, 'data'" in SGD_RULE
    cfg = BayesConfig(ns=(100, 200), chains=2, seed=4)
    assert n_seed(cfg, 200) == child_seed(4, "bayes", "nuts", 200, "sampler")
    g = chain_generators(cfg, 200)[1].random(2)
    np.testing.assert_array_equal(g, child_rng(4, "bayes", "nuts", 200, "chain", 1).random(2))
    assert all("'bayes', 'nuts', n" in rule for rule in SEED_RULES.values())
    assert "'bayes', 'pt', 'main'" in PT_RULE


def test_the_derivations_outside_a_path_keep_their_values():
    """The rules moved into the seed tree (issue 19) give the numbers they gave where they were."""
    import numpy as np

    from comparisons.theory.streams import root_rng, root_sequence, sampler_generator, sequence_seed, spawned_seeds

    ss = np.random.SeedSequence(7)
    assert root_sequence(7).entropy == 7 and root_sequence(ss) is ss
    assert sequence_seed(ss) == int(np.random.SeedSequence(7).generate_state(1)[0])
    assert spawned_seeds(np.random.SeedSequence(7), 3) == [
        int(s.generate_state(1)[0]) for s in np.random.SeedSequence(7).spawn(3)]
    assert root_rng(5).random() == np.random.default_rng(5).random()
    assert sampler_generator(5).random() == np.random.Generator(np.random.PCG64(5)).random()
    parent, twin = np.random.default_rng(1), np.random.default_rng(1)
    assert sampler_generator(parent).random() == twin.spawn(1)[0].random()
