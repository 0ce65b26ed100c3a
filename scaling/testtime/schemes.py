"""Test-time scaling of a finished run: M parallel samples per problem, three ways to use them.

For every seed and M (one batched decode of all problems x M rows, `scaling.rl.generate.sample`,
compiled once per shape and timed after compilation):

    vote    the most frequent finished answer among the M                 rounds 1, branches M
    best    best-of-M with the exact verifier: correct if any sample is   rounds 1, branches M
            (its mean over problems is the coverage, pass@M); an ORACLE
            (upper bound): a deployed system has no exact verifier
    agents  the M drafts, then a bounded summary (the `summary_k` most    rounds 2, branches M
            frequent answers) put into the prompt before <answer>, then
            one final answer per problem, sampled in a second batch

Per problem, M and scheme: tt/tokens_total (every generated token, <eos> included), tt/tokens_critical
(the critical path in decoding steps: the longest chain of sequential decode steps the query needs,
the longest of the problem's parallel samples, plus the final answer for agents), tt/branches,
tt/rounds, tt/flops (the problem's share of the batch's exact FLOPs, counted like `scaling.rl.flops`:
prefill per problem, then every executed decode step for every row of the batch), target (the
exact answer), answers ([answer, count, correct] of the M samples' finished answers, most frequent
first). The device's side (`scaling.testtime.latency`): tt/step_s, tt/step_lo_s, tt/step_hi_s (the
measured decode-step time tau(B) at the query's own batch, B = M: median and 10th-90th percentiles)
and tt/latency_s (the query's critical path times tau of each round's batch: M rows in round 1,
one in the agents' round 2). tt/batch_wall_s is the wall time of the whole P x M batch the
accuracy was sampled in (a throughput figure, not a query's latency). `xla` holds, per M and round,
XLA's cost analysis of the compiled sampler against the analytic count of what its program holds
(prefill + one decode step: XLA counts a while loop's body once). Seeds are sampling seeds (the
keys of the samples of one checkpoint), not training seeds.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from scaling.data import check_answer, tokenizer
from scaling.errors import DataError
from scaling.rl import flops as rlflops
from scaling.rl import generate, grpo
from scaling.rl.problems import Problems
from scaling.testtime import aggregate, latency

SCHEMES = ("vote", "best", "agents")
#: schemes that select with the exact verifier: upper bounds, never deployable
ORACLE = {"best": "oracle (upper bound)"}
_KEY = 0x54_54  # test-time key stream


def check_ms(ms) -> tuple[int, ...]:
    ms = tuple(int(m) for m in ms)
    if not ms:
        raise DataError("--m: name at least one number of samples")
    bad = [m for m in ms if m <= 0]
    if bad:
        raise DataError(f"--m: M must be positive, got {bad[0]}")
    return tuple(sorted(set(ms)))


def _compiled(graphdef, params, images, prompt, plen, key, temperature, group, max_len):
    return generate.sample.lower(graphdef, params, images, prompt, plen, key, temperature,
                                 group=group, max_len=max_len).compile()


def _xla_flops(compiled) -> float:
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"])


def decode(graphdef, params, model_cfg, problems: Problems, key, group: int, max_len: int, temperature: float) -> dict:
    """One batched parallel decode: group samples of every problem. Returns parsed answers,
    lengths [P*group], think tokens, decode steps, wall_s (after compilation), flops (exact, batch),
    xla (cost analysis) and xla_model (analytic prefill + one decode step)."""
    args = (params, jnp.asarray(problems.images), jnp.asarray(problems.prompt), jnp.asarray(problems.prompt_len),
            key, jnp.float32(temperature))
    fn = _compiled(graphdef, *args, group, max_len)
    t0 = time.perf_counter()
    tokens, _, length, steps = jax.block_until_ready(fn(*args))
    wall = time.perf_counter() - t0
    p = grpo.parse(np.asarray(tokens))
    P, rows = len(problems), len(problems) * group
    pre, step = rlflops.prefill(model_cfg), rlflops.decode_step(model_cfg)
    return {"answer": p["answer"], "think": p["think"], "length": np.asarray(length), "steps": int(steps),
            "wall_s": wall, "flops": P * pre + int(steps) * rows * step, "xla": _xla_flops(fn),
            "xla_model": P * pre + rows * step}


def evaluate(loaded, problems: Problems, ms, seeds, *, max_len: int, temperature: float = 1.0,
             summary_k: int = 2, repeats: int = latency.MIN_REPEATS) -> tuple[list[dict], list[dict]]:
    """(rows: one per sampling seed, M, problem and scheme; xla: one per seed, M and round)."""
    ms = check_ms(ms)
    tok = tokenizer()
    P, T = len(problems), problems.prompt.shape[-1]
    rows, xla = [], []
    # the device's decode-step time for one query's batch (its M rows; 1 row for the agents' round 2)
    tau = {r["B"]: r for r in latency.measure(loaded, problems, sorted({1, *ms}), repeats=repeats)}
    for seed in seeds:
        base = jax.random.fold_in(jax.random.fold_in(jax.random.key(int(seed)), _KEY), 0)
        for m in ms:
            key = jax.random.fold_in(base, m)
            d = decode(loaded.graphdef, loaded.params, loaded.model_cfg, problems, jax.random.fold_in(key, 1), m,
                       max_len, temperature)
            xla.append({"seed": seed, "M": m, "round": 1, "xla": d["xla"], "analytic": d["xla_model"],
                        "ratio": d["xla"] / d["xla_model"]})
            ans = [d["answer"][i * m:(i + 1) * m] for i in range(P)]
            ln = d["length"].reshape(P, m)
            # round 2 of the agents: the summary of each problem's drafts into its prompt
            prompt2, plen2 = np.zeros_like(problems.prompt), np.zeros_like(problems.prompt_len)
            for i in range(P):
                # the final answer keeps the room the longest finished draft needed
                done = [int(n) for n, a in zip(ln[i], ans[i]) if aggregate.UNFINISHED not in a]
                room = int(min(max_len, T - problems.prompt_len[i], max(done) if done else max_len))
                words = aggregate.summary(ans[i], summary_k, max(0, T - int(problems.prompt_len[i]) - room))
                prompt2[i], plen2[i] = aggregate.summary_prompt(problems.prompt[i], int(problems.prompt_len[i]),
                                                                words, tok.encode, tok.answer_id, room)
            second = Problems(problems.images, prompt2, plen2, problems.answers, problems.questions, problems.tiers,
                              problems.keys, problems.kind)
            f = decode(loaded.graphdef, loaded.params, loaded.model_cfg, second, jax.random.fold_in(key, 2), 1,
                       max_len, temperature)
            xla.append({"seed": seed, "M": m, "round": 2, "xla": f["xla"], "analytic": f["xla_model"],
                        "ratio": f["xla"] / f["xla_model"]})
            for i in range(P):
                ok = np.array([check_answer(a, problems.answers[i]) for a in ans[i]])
                total, crit = int(ln[i].sum()), int(ln[i].max())
                common = {"seed": int(seed), "M": m, "problem": i, "tier": int(problems.tiers[i]),
                          "target": str(problems.answers[i]), "tt/branches": m, "n_correct": int(ok.sum()),
                          "tt/step_s": tau[m]["tau_s"], "tt/step_lo_s": tau[m]["lo_s"],
                          "tt/step_hi_s": tau[m]["hi_s"],
                          "answers": [[a, c, check_answer(a, problems.answers[i])]
                                      for a, c in aggregate.ranked(ans[i])],
                          "tt/think_mean": float(d["think"][i * m:(i + 1) * m].mean())}
                one = {"tt/tokens_total": total, "tt/tokens_critical": crit, "tt/rounds": 1,
                       "tt/latency_s": crit * tau[m]["tau_s"], "tt/batch_wall_s": d["wall_s"],
                       "tt/flops": d["flops"] / P}
                vote = check_answer(aggregate.majority(ans[i]), problems.answers[i])
                rows.append({**common, **one, "scheme": "vote", "correct": bool(vote)})
                rows.append({**common, **one, "scheme": "best", "correct": bool(ok.any()),
                             "selection": ORACLE["best"]})
                fl = int(f["length"][i])
                final = check_answer(f["answer"][i], problems.answers[i])
                rows.append({**common, "scheme": "agents", "correct": bool(final),
                             "tt/tokens_total": total + fl, "tt/tokens_critical": crit + fl, "tt/rounds": 2,
                             "tt/latency_s": crit * tau[m]["tau_s"] + fl * tau[1]["tau_s"],
                             "tt/batch_wall_s": d["wall_s"] + f["wall_s"], "tt/flops": (d["flops"] + f["flops"]) / P})
    return rows, xla
