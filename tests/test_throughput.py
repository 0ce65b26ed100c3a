"""Several steps per compiled call (`Trainer.run`): the chunks the loop cuts, and that chunking
never changes a number (a chunk of K steps equals K chunks of one, bit for bit)."""

import jax
import numpy as np

from scaling import config
from scaling.train import _chunks
from scaling.trainer import CHUNK, Trainer

TINY = {"model.width": 16, "data.val_examples": 8, "train.batch_size": 4, "train.eval_batch_size": 8,
        "train.tokens": 4 * 320 * 40}


def test_chunks_cover_every_step_once_and_end_where_the_loop_acts():
    acts = {7, 23, 24, 50, 61}
    out = _chunks(0, 64, lambda d: d in acts)
    steps = [s for first, count in out for s in range(first, first + count)]
    assert steps == list(range(64))
    assert all(1 <= count <= CHUNK for _, count in out)
    ends = {first + count for first, count in out}
    assert acts <= ends  # the loop can act after each of them
    assert all(e % CHUNK == 0 or e in acts or e == 64 for e in ends)  # and cuts nowhere else
    # a run resumed at any chunk's end cuts the same chunks as the uninterrupted one from there
    for k, (first, _) in enumerate(out):
        assert _chunks(first, 64, lambda d: d in acts) == out[k:]
    assert _chunks(5, 5) == []


def test_a_chunk_equals_its_steps_one_call_each():
    cfgs = [config.load(None, {**TINY, "seed": s, "optim.lr": lr}) for s, lr in ((0, 3e-3), (1, 1e-2))]
    chunked, single = Trainer(cfgs), Trainer(cfgs)
    try:
        n = 4
        rates = [[1e-3 * (i + 1), 2e-3 * (i + 1)] for i in range(n)]
        ok, loss, gnorm = chunked.run(3, n, rates)
        singles = [single.run(3 + i, 1, [rates[i]]) for i in range(n)]
        got = jax.device_get((chunked.state, chunked.alive, ok[:n], loss[:n], gnorm[:n]))
        want = jax.device_get((single.state, single.alive,
                               *(np.stack([np.asarray(s[j][0]) for s in singles]) for j in range(3))))
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert np.all(np.isfinite(np.asarray(got[3]))) and np.asarray(got[2]).all()
        assert not np.array_equal(np.asarray(got[3])[:, 0], np.asarray(got[3])[:, 1])  # members differ
    finally:
        chunked.close()
        single.close()
