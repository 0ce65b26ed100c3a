"""Worked reasoning chains in the pretraining data (`data.chains`): every chain decodes to a problem
whose steps and answer check; the share is honoured; training chains come from the training side
of the reasoning problems' split and validation chains from the held-out side, so neither meets
the other nor the RL held-out problems; at the default 0 nothing changes, the run id included."""

import numpy as np
import pytest

from chain_vocab import chain_vocabulary
from scaling import config
from scaling.data import reasoning as Z
from scaling.data import train_batch, val_batch
from scaling.rl import config as R
from scaling.rl import problems as P


def chain_rows(batch, tok):
    """(question, completion) of every qa example with a chain, and the decoded texts of the others."""
    chains, plain = [], []
    for text, image in zip(batch["text"][:, 0], batch["images"][:, 0]):
        words = tok.decode(text).split()
        assert words[0] == "<qa>" and words[-1] == "<eos>"
        body = " ".join(words[1:-1])
        if Z.THINK in words:
            q, completion = body.split(f" {Z.ANSWER} ")
            assert not image.any()  # a chain sits on a blank image, as the RL problems do
            chains.append((q, completion))
        else:
            assert image.any()
            plain.append(body)
    return chains, plain


@pytest.mark.parametrize("share", [0.3, 1.0])
def test_chains_check_and_share_is_honoured(share):
    with chain_vocabulary() as tok:
        cfg = config.load(None, {"data.chains": share, "data.mix_caption": 0, "data.mix_text": 0,
                                 "data.mix_interleaved": 0})
        n = total = 0
        for step in range(20):
            chains, plain = chain_rows(train_batch(cfg.data, 0, step, 32)["qa"], tok)
            for q, completion in chains:
                assert Z.check(q, completion) == {"format": True, "steps": True, "answer": True}
                assert Z.solve(q).completion == completion and not Z.is_heldout(q)
            n, total = n + len(chains), total + len(chains) + len(plain)
        assert total == 640
        sd = np.sqrt(share * (1 - share) / total)
        assert abs(n / total - share) <= 4 * sd + 1e-9, (n / total, share)
        again = train_batch(cfg.data, 0, 19, 32)["qa"]  # deterministic in (data, seed, step)
        np.testing.assert_array_equal(again["text"], train_batch(cfg.data, 0, 19, 32)["qa"]["text"])


def test_train_validation_and_rl_heldout_chains_are_disjoint():
    with chain_vocabulary() as tok:
        cfg = config.load(None, {"data.chains": 0.5})
        train = {q for step in range(30) for q, _ in chain_rows(train_batch(cfg.data, 1, step, 64)["qa"], tok)[0]}
        val, _ = chain_rows(val_batch(cfg.data, "qa"), tok)
        val = {q for q, _ in val}
        assert len(train) > 100 and len(val) > 20
        assert all(Z.is_heldout(q) for q in val) and not train & val
        P._build_reasoning.cache_clear()
        probs = R.build({}, ["problems.kind=reasoning", "problems.train=64", "problems.heldout=64",
                       "problems.difficulty=1,2"]).problems
        held = set(P.build(cfg.data, probs, "heldout").questions)
        assert held and not train & held
        P._build_reasoning.cache_clear()


def test_default_leaves_data_and_run_id_alone():
    base, off = config.load(None, {}), config.load(None, {"data.chains": 0})
    assert config.run_id(base) == config.run_id(off) and "chains" not in config._used(base)["data"]
    on = config.load(None, {"data.chains": 0.25})
    assert config.run_id(on) != config.run_id(base) and config._used(on)["data"]["chains"] == 0.25
    assert config.config_id(on) != config.config_id(base)
    b = train_batch(base.data, 0, 5, 64)
    assert all("<think>" not in " ".join(map(str, row)) for row in b["qa"]["text"][:, 0].tolist())
    tok_think = P.tokenizer().ids[Z.THINK]
    for split in b.values():
        assert not (split["text"] == tok_think).any()
