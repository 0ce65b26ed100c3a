"""The jitted pieces of one RL run: rollouts, the GRPO update, the reference forward, evaluation.

Randomness: the problems of step s are drawn with default_rng([seed, s, ...]), the random-reward
control's rewards with default_rng([seed, s, _REWARD]) and its rollouts with fold_in(key(seed), s); evaluation uses fixed keys per problem set (common random numbers across
evaluation points), so a run is a function of its config and the pretrained parameters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from scaling.config import RunConfig
from scaling.data.reasoning import check
from scaling.rl import flops as rlflops
from scaling.rl import generate, grpo, guess
from scaling.rl.config import RLConfig, int_list
from scaling.fit.passk import pass_at_k
from scaling.rl.problems import Problems

_PICK = 0x50_49_43  # problem-choice stream
_EVAL = 0x45_56  # evaluation key stream
_REWARD = 0x52_57  # the random-reward control's stream


def rl_schedule(cfg: RLConfig):
    """Learning rate per step (0-based): linear warmup over `optim.warmup` of the steps, then constant."""
    warm = max(1, round(cfg.optim.warmup * cfg.steps)) if cfg.optim.warmup > 0 else 0
    peak = cfg.optim.lr

    def lr(step):
        return peak * jnp.minimum(1.0, (jnp.asarray(step, jnp.float32) + 1) / max(warm, 1))

    return lr


def rl_optimizer(cfg: RLConfig):
    """(AdamW with global-norm clipping, decaying matrices only; its schedule)."""
    o, lr = cfg.optim, rl_schedule(cfg)
    tx = optax.chain(optax.clip_by_global_norm(o.clip_norm),
                     optax.adamw(lr, b1=o.beta1, b2=o.beta2, weight_decay=o.weight_decay,
                                 mask=lambda p: jax.tree.map(lambda x: x.ndim >= 2, p)))
    return tx, lr


def mean_pass_at_k(n: int, counts: np.ndarray, k: int) -> float:
    """Unbiased pass@k (`scaling.fit.passk`) averaged over problems; NaN for no problems."""
    return float(np.mean(pass_at_k(n, counts, k))) if len(counts) else float("nan")


QUANTILES = (0.1, 0.5, 0.9)


def think_stats(think: np.ndarray, correct: np.ndarray, truncated: np.ndarray, name: str,
                closed: np.ndarray | None = None) -> dict[str, float]:
    """Thinking tokens (inside <think> ... </think>) of correct and incorrect answers separately:
    mean and quantiles (NaN when there are none), and the truncated fraction (no <eos> within the
    token budget). With `closed` (rows whose chain opens and closes): the mean length of those
    chains alone and the chain rate, apart, since `mean` counts an answer without a chain as 0 and
    abandoning the chain would read as compression."""
    out = {f"eval/think/{name}/mean": float(think.mean()) if len(think) else float("nan"),
           f"eval/truncated/{name}": float(truncated.mean()) if len(truncated) else float("nan")}
    if closed is not None:
        out[f"eval/think/{name}/closed/mean"] = float(think[closed].mean()) if closed.any() else float("nan")
        out[f"eval/chain_rate/{name}"] = float(closed.mean()) if len(closed) else float("nan")
    for label, sel in (("correct", correct), ("incorrect", ~correct)):
        v = think[sel].astype(float)
        out[f"eval/think/{name}/{label}/mean"] = float(v.mean()) if v.size else float("nan")
        for q in QUANTILES:
            out[f"eval/think/{name}/{label}/q{round(q * 100)}"] = float(np.quantile(v, q)) if v.size else float("nan")
    return out


class Learner:
    def __init__(self, model_cfg: RunConfig, cfg: RLConfig, graphdef, params, train_set: Problems):
        self.model_cfg, self.cfg, self.graphdef = model_cfg, cfg, graphdef
        self.train_set = train_set
        self.ref = params  # the starting model
        self.tx, self.lr = rl_optimizer(cfg)
        self.state = (params, self.tx.init(params))
        self.text_len = model_cfg.data.text_len
        self._update = jax.jit(self._update_step)
        self._ref_logp = jax.jit(self._logp)
        self._guess: dict[str, dict[str, float]] = {}  # per evaluated set: constant over the run

    # ------------------------------------------------------------ device functions

    def _logp(self, params, images, text):
        model = nnx.merge(self.graphdef, params)
        return grpo.token_logp(model("qa", images, text), text, self.cfg.sampling.temperature)

    def _update_step(self, state, images, text, old_logp, ref_logp, mask, adv):
        g = self.cfg.grpo
        params, opt_state = state

        def objective(p):
            return grpo.loss(self._logp(p, images, text), old_logp, ref_logp, mask, adv, g.clip, g.kl)

        (value, aux), grads = jax.value_and_grad(objective, has_aux=True)(params)
        updates, opt_state = self.tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), value, aux, optax.tree.norm(grads)

    # ------------------------------------------------------------ one RL step

    def sample(self, params, problems: Problems, key, group: int, temperature: float):
        return generate.sample(self.graphdef, params, jnp.asarray(problems.images), jnp.asarray(problems.prompt),
                               jnp.asarray(problems.prompt_len), key, temperature, group=group,
                               max_len=self.cfg.sampling.max_len)

    def step(self, step: int) -> dict[str, float]:
        """One GRPO step (0-based `step`): sample, score, update. Returns its metrics and FLOPs."""
        cfg, s, g = self.cfg, self.cfg.sampling, self.cfg.grpo
        rng = np.random.default_rng([cfg.seed, step, _PICK])
        batch = self.train_set.take(rng.choice(len(self.train_set), g.problems, replace=False))
        key = jax.random.fold_in(jax.random.key(cfg.seed), step)
        tokens, logp, length, decode_steps = self.sample(self.state[0], batch, key, s.group, s.temperature)
        tokens, logp, length = np.asarray(tokens), np.asarray(logp), np.asarray(length)
        correct = grpo.correctness(tokens, list(batch.answers), s.group)
        signal = grpo.SIGNALS[g.reward](correct, np.random.default_rng([cfg.seed, step, _REWARD]), g.reward_p)
        reward = grpo.rewards(signal, length, s.group, g.length_penalty, g.length_coef, s.max_len)
        adv, informative = grpo.advantages(reward, s.group, g.std_norm)
        plen = np.repeat(batch.prompt_len, s.group)
        old_logp, mask = grpo.align(logp, plen, length, self.text_len)
        if g.filter:
            mask = mask * informative[:, None].astype(np.float32)
        text = jnp.asarray(generate.full_text(batch.prompt, batch.prompt_len, tokens, s.group))
        images = jnp.asarray(np.repeat(batch.images, s.group, axis=0))
        ref_logp = self._ref_logp(self.ref, images, text) if g.kl > 0 else jnp.asarray(old_logp)
        args = (jnp.asarray(old_logp), ref_logp, jnp.asarray(mask), jnp.asarray(adv, jnp.float32))
        losses, kls, clips = [], [], []
        for _ in range(g.updates):
            self.state, value, aux, gnorm = self._update(self.state, images, text, *args)
            losses.append(float(value))
            kls.append(float(aux["kl"]))
            clips.append(float(aux["clip_frac"]))
        out = rlflops.step_flops(self.model_cfg, g.problems, s.group, int(decode_steps), g.updates, g.kl > 0)
        out.update({"reward": float(reward.mean()), "accuracy": float(correct.mean()),
                    "length": float(length.mean()), "loss": float(np.mean(losses)),
                    "kl": float(np.mean(kls)) if g.kl > 0 else 0.0, "clip_frac": float(np.mean(clips)),
                    "grad_norm": float(gnorm), "rollouts": float(len(correct)),
                    "filtered": float((~informative).sum()), "tokens_sampled": float(length.sum())})
        return out

    # ------------------------------------------------------------ evaluation

    def evaluate(self, problems: Problems, name: str, index: int) -> dict[str, float]:
        """pass@k (unbiased, n = eval.samples), mean answer length, mean reward, pass@1 by tier, and
        the controls beside them: greedy pass@1 (temperature 0: at step 0 the starting model's
        greedy answers) and the question-blind guess baseline (`scaling.rl.guess`)."""
        e, s, g = self.cfg.eval, self.cfg.sampling, self.cfg.grpo
        n, chunk = e.samples, e.chunk
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(self.cfg.seed), _EVAL), index)
        correct, lengths, parsed, greedy = [], [], [], []
        for c, start in enumerate(range(0, len(problems), chunk)):
            idx = np.arange(start, start + chunk) % len(problems)  # the last chunk wraps (fixed shape)
            keep = min(chunk, len(problems) - start) * n
            batch = problems.take(idx)
            tokens, _, length, _ = self.sample(self.state[0], batch, jax.random.fold_in(key, c), n, e.temperature)
            tokens, length = np.asarray(tokens)[:keep], np.asarray(length)[:keep]
            parsed.append(grpo.parse(tokens))
            correct.append(grpo.graded(parsed[-1]["answer"], list(batch.answers), n))
            lengths.append(length)
            argmax = np.asarray(self.sample(self.state[0], batch, key, 1, 0.0)[0])[:keep // n]  # key unused
            greedy.append(grpo.correctness(argmax, list(batch.answers), 1))
        correct, lengths = np.concatenate(correct), np.concatenate(lengths)
        think = np.concatenate([p["think"] for p in parsed])
        completions = [c for p in parsed for c in p["completion"]]
        counts = correct.reshape(-1, n).sum(1)
        reward = grpo.rewards(correct, lengths, n, g.length_penalty, g.length_coef, s.max_len)
        out = {f"eval/pass@{k}/{name}": mean_pass_at_k(n, counts, k) for k in int_list(e.k, "eval.k")}
        out[f"eval/greedy/pass@1/{name}"] = float(np.concatenate(greedy).mean())
        if name not in self._guess:
            self._guess[name] = guess.baseline(problems, int_list(e.k, "eval.k"), name, self.train_set)
        out.update(self._guess[name])
        out[f"eval/length/{name}"] = float(lengths.mean())
        out[f"eval/length_correct/{name}"] = float(lengths[correct].mean()) if correct.any() else float("nan")
        out[f"eval/reward/{name}"] = float(reward.mean())
        out.update(think_stats(think, correct, np.concatenate([p["truncated"] for p in parsed]), name,
                               np.concatenate([p["closed"] for p in parsed])))
        if problems.kind == "reasoning":
            steps = np.array([check(problems.questions[i // n], c)["steps"] for i, c in enumerate(completions)])
            out[f"eval/chain_valid/{name}"] = float(steps.mean())
            out[f"eval/chain_valid_correct/{name}"] = float(steps[correct].mean()) if correct.any() else float("nan")
        for tier in sorted(set(problems.tiers.tolist())):
            sel = problems.tiers == tier
            out[f"eval/pass@1/{name}/tier{tier}"] = mean_pass_at_k(n, counts[sel], 1)
        return out
