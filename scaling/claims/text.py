"""Human-readable lines and plot curves for claim results (used by the CLI and the report)."""

from __future__ import annotations

import math

import numpy as np


def fmt(v) -> str:
    """3 significant digits; '-' for None/NaN, 'inf' for infinity."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return "inf" if v == math.inf else f"{v:.3g}"


def _bias(e: dict) -> str:
    return "-" if math.isnan(e["bias"]) else f"{e['bias']:+.2f}"


def _cell(e: dict) -> str:
    cell = f"{fmt(e['value'])}x ({fmt(e['lo'])}-{fmt(e['hi'])})"
    return cell + ("*" if e.get("defined_frac", 1.0) < 0.95 else "")


def multiplier_lines(r: dict) -> list[str]:
    """Lines for a :func:`scaling.claims.compare` result: headline, table, m(C), test, warnings."""
    c, b = r["candidate"], r["baseline"]
    lines = [f"{c} vs {b} on {r['y']} (compute {r['x']}); bootstrap: {r['n_boot']} resamples, {r['resampled']}; "
             f"power-law exponents fitted separately (Huber delta from the data: "
             f"{r['fits'][b]['delta']:.3g} and {r['fits'][c]['delta']:.3g}); failed fits "
             f"{r['n_failed'][b]} and {r['n_failed'][c]} of {r['n_boot']}"]
    lines.append(f"headline ({r['headline_option']}; intervals at one-sided {r['level_per_bound']:.4g} per bound):")
    for row in r["headline"]:
        tag = "  extrapolated" if row["extrapolated"] else ""
        lines.append(f"  loss {row['loss']:.4f}: frontier gap {_cell(row['nonparametric'])}, power-law fits "
                     f"{_cell(row['parametric'])}; bias (median log draw - log estimate) "
                     f"{_bias(row['nonparametric'])} / {_bias(row['parametric'])}{tag}")
    lines.append(f"{'target loss':>12}  {'frontier gap (95% CI)':>26}  {'power-law fits (95% CI)':>26}")
    for row in r["targets"]:
        tag = "  extrapolated" if row["extrapolated"] else ""
        lines.append(f"{row['loss']:>12.4f}  {_cell(row['nonparametric']):>26}  {_cell(row['parametric']):>26}{tag}")
    lines.append("m(C): the multiplier at the loss the baseline's frontier reaches at compute C")
    for row in r["by_compute"]:
        lines.append(f"{row['compute']:>12.3g}  {_cell(row['nonparametric']):>26}  {_cell(row['parametric']):>26}")
    lines.append("* more than 5% of draws undefined (neither recipe reached the loss); inf / 0: the baseline / "
                 "candidate never reached it in the estimate or in censored draws (counted, not dropped)")
    s = r.get("shared_exponent", {})
    if "p" in s:
        say = ("the separate exponents fit significantly better (p < 0.05): the multiplier depends on scale, "
               "see the table and m(C)" if s["p"] < 0.05 else "one shared exponent is consistent with the data")
        lines.append(f"shared vs separate exponents: alpha {s['alpha'][1]:.3g} ({c}) and {s['alpha'][0]:.3g} "
                     f"({b}) vs shared {s['alpha_shared']:.3g}; F = {s['F']:.3g}, p = {s['p']:.3g}: {say}")
    elif s:
        lines.append(f"shared vs separate exponents: not tested ({s['error']})")
    lines.append(r["test"])
    if r.get("claim") is not None:
        v = r["verdict"]
        loss = v["loss"] if isinstance(v["loss"], float) else ", ".join(f"{t:.4f}" for t in v["loss"])
        lines.append(f"claim: {c} needs {r['claim']:g}x less compute than {b} -> {v['verdict'].upper()} at loss "
                     f"{loss} (frontier gap: {v['nonparametric']}, power-law fits: {v['parametric']})")
    lines += [f"warning: {w}" for w in r.get("warnings", [])]
    return lines


def multiplier_curves(r: dict) -> dict:
    """Plot curves of :func:`scaling.plots.multiplier` from a compare result."""
    rows = r["targets"]
    out = {}
    for name, label in (("nonparametric", "frontier gap"), ("parametric", "power-law fits")):
        out[label] = {"loss": [t["loss"] for t in rows], "value": [t[name]["value"] for t in rows],
                      "lo": [t[name]["lo"] for t in rows], "hi": [t[name]["hi"] for t in rows],
                      "extrapolated": [t["extrapolated"] for t in rows]}
    return out


def loglinear_lines(r: dict) -> list[str]:
    """Lines for a :func:`scaling.claims.loglinear_claim` result."""
    lines = [f"log-linear claim against {r['x']}:"]
    for name, m in r["metrics"].items():
        s, c, d = m["slope_interval"], m["curvature_interval"], m["heldout_interval"]
        h = m["heldout_rmse"]
        where = (f"fit steps {_steps(m['fit_steps'])}, held out {_steps(m['heldout_steps'])}"
                 if m["fit_steps"] is not None else f"{m['n_points'] - m['n_heldout']} fit, {m['n_heldout']} held-out points")
        warm = f"after warmup {'/'.join(map(str, m['warmup_steps']))} + burn-in {'/'.join(map(str, m['burn_in_steps']))} steps"
        sig = (f"sigmoid held-out RMSE {h['sigmoid']:.4f} vs log-linear {h['loglinear']:.4f}"
               if m["sigmoid_identified"] else f"sigmoid not identified ({m['sigmoid_not_identified']})")
        judged = not m.get("refusal")
        ci = (lambda v: f" ({v[0]:+.4f} to {v[1]:+.4f})") if judged else (lambda v: "")  # noqa: E731
        dep = np.mean(m["heldout_departures"]) if m["heldout_departures"] else np.nan
        held = (f"held-out departure per run {dep:+.4f}{ci(d)}"
                + (f", t={m['heldout_t']:+.2f} on {m['heldout_df']} df" if judged else "")
                + f" (practical size {m['heldout_tolerance']:.4f}; points-as-independent z={m['heldout_z_points']:+.1f}, "
                  f"descriptive)")
        lines.append(
            f"{name}: {m['n_runs']} run(s), {warm}; {where}; slope {m['slope_per_decade']:+.4f}/decade{ci(s)}; "
            f"curvature {m['curvature']:+.4f}{ci(c)} (practical size {m['curvature_tolerance']:.4f}); {held}; {sig}; "
            + (f"bootstrap over {m['bootstrap_unit']} -> log-linear {m['verdict'].upper()}" if judged
               else f"log-linear NOT JUDGED: {m['refusal']}")
            + (" (accelerating: bends away from saturation)" if m.get("accelerating") else ""))
    if "combined" in r:
        lines.append(f"all metrics together: {r['combined'].upper()} ({r['combined_rule']})")
    lines.append(r.get("test", ""))
    return lines


def _steps(v) -> str:
    return f"{v[0]:g}-{v[-1]:g}" if v else "none"


def phases_lines(r: dict) -> list[str]:
    lines = [f"phase claim ('lengthens, compresses, lengthens again') against log10 of the seeds' mean {r['x']} "
             f"per step, seed means from {r['seed_col']!r}:"]
    for name, m in r["metrics"].items():
        head = f"{name}: {m['n_steps']} steps x {m['n_seeds']} seeds"
        if m.get("steps_left_out"):
            head += f" ({m['steps_left_out']} step(s) left out: not every seed has a value)"
        if "theta" not in m:
            lines.append(f"{head} -> {m['verdict'].upper()}: {m['reason']}")
            continue
        sl = ", ".join(f"{s:+.3g} ({lo:+.3g} to {hi:+.3g})"
                       for s, (lo, hi) in zip(m["slopes_per_decade"], m["slope_intervals"]))
        br = ", ".join(f"{b:.3g}" for b in m["breaks_compute"])
        lo, hi = m["theta_interval"]
        lines.append(f"{head}; 2-breakpoint fit: breaks at {br}, slopes per decade {sl}; theta = min(s1, -s2, s3) "
                     f"{m['theta']:+.3g} ({lo:+.3g} to {hi:+.3g}; {m['n_boot']} resamples of {m['bootstrap_unit']}, "
                     f"widened x{m['t_factor']:.2f}); smallest shape sought {m['delta_per_decade']:.3g}/decade, "
                     f"power {m['power']:.0%}; replicated in {m['replicated']} seeds; BIC picks "
                     f"{m['breakpoints']} breakpoint(s) (in {m['p_two_breakpoints']:.0%} of resamples: not a test) "
                     f"-> {m['verdict'].upper()}: {m['reason']}")
        if "chain_rate" in m:
            c = m["chain_rate"]
            lines.append(f"  chain rate ({c['column']}, seed mean per evaluation, the start included): "
                         f"{c['first']:.3f} -> {c['last']:.3f} (range {c['min']:.3f}-{c['max']:.3f})")
    lines += [f"warning: {w}" for w in r.get("warnings", ())]
    return lines


def parallel_lines(r: dict, cov: dict, null: dict) -> list[str]:
    sel = f" [{r['selection']}]" if r["selection"] != "deployable" else ""
    lines = [f"parallel claim ('accuracy rises with M above a single sample while the critical path stays flat'), "
             f"scheme {r['scheme']}{sel}, {r['problems']} problems x {r['sampling_seeds']} sampling seed(s) of one "
             f"checkpoint, {r['n_boot']} resamples of {r['resampled']}:",
             f"single sample (M = 1 plain sampling): accuracy {r['single']:.3f} ({r['single_ci'][0]:.3f}-"
             f"{r['single_ci'][1]:.3f}), critical path {r['critical_single']:.2f} decoding steps",
             f"{'M':>4} {'accuracy (95% CI)':>24} {'guess':>7} {'critical steps':>15}"]
    for m, a, ci, g, c in zip(r["M"], r["accuracy"], r["accuracy_ci"], r["guess"], r["critical_tokens"]):
        lines.append(f"{m:>4} {a:>8.3f} ({ci[0]:.3f}-{ci[1]:.3f}) {fmt(g):>7} {c:>15.2f}")
    g, mg, c = r["gain_ci"], r["margin_over_guess_ci"], r["critical_ratio_ci"]
    fl = f"; FLOPs x{r['flop_ratio']:.3g}" if r.get("flop_ratio") is not None else ""
    lines += [f"M={r['M'][-1]} minus a single sample: {r['gain']:+.4f} ({g[0]:+.4f} to {g[1]:+.4f}), needs > "
              f"{r['min_gain']:g}; minus the question-blind guess: {fmt(r['margin_over_guess'])} ({fmt(mg[0])} to "
              f"{fmt(mg[1])}), needs > 0; per doubling of M {r['gain_per_doubling']:+.4f}",
              f"critical path (decoding steps) M={r['M'][-1]} / single sample x{r['critical_ratio']:.3g} "
              f"({c[0]:.3g}-{c[1]:.3g}); flat means <= x{r['flat']:g}{fl}",
              f"-> the scheme: {r['verdict_scheme'].upper()}"]
    lines += [f"   note: {n}" for n in r["notes"]]
    d = r["device"]
    if "tau" in d:
        lines.append("device tau(B), one decode step at batch B (median, 10-90%): " + ", ".join(
            f"B={t['B']}: {t['tau_s'] * 1e3:.3g} ms ({t['lo_s'] * 1e3:.3g}-{t['hi_s'] * 1e3:.3g})" for t in d["tau"]))
    if "latency_ratio" in d:
        lc = d["latency_ratio_ci"]
        lines.append(f"-> the device: query latency x{d['latency_ratio']:.3g} ({lc[0]:.3g}-{lc[1]:.3g}) "
                     f"({d['reason']}): {d['verdict'].upper()}")
    else:
        lines.append(f"-> the device: NOT JUDGED ({d['reason']})")
    ci = lambda k: f"({fmt(cov[k + '_ci'][0])} to {fmt(cov[k + '_ci'][1])})" if k + "_ci" in cov else ""  # noqa: E731
    ceiling = "" if cov.get("identified") else " (ceiling not identified: the fit sits on a bound, c_max = 1 or a = 0)"
    lines += [f"coverage with a ceiling c(k) = c_max exp(a k^b) [{cov['selection']}]: c_max={fmt(cov['c_max'])} "
              f"{ci('c_max')}{ceiling}, a={fmt(cov['a'])} {ci('a')}, b={fmt(cov['b'])} {ci('b')}; pass@k vs guess "
              + ", ".join(f"{k}:{v:.3f}/{fmt(q)}" for k, v, q in zip(cov["k"], cov["pass_at_k"], cov["guess"])),
              f"majority-vote null (independent draws from each problem's answer distribution, fitted on "
              f"{null['fitted_on']}): "
              + ", ".join(f"M={m}: {p:.3f} vs measured {v:.3f}" for m, p, v in
                          zip(null["M"], null["predicted"], null["measured"]))
              + f"; limit (easy problems) {null['easy_fraction']:.3f}"]
    return lines


def testtime_lines(s: dict) -> list[str]:
    lines = [f"test-time study of {s['run']} ({s['stage']}, {s['problems']} {s['set']} {s['kind']} problems, "
             f"sampling seeds {s['seeds']}, budget {s['max_len']} tokens); XLA/analytic FLOPs "
             f"{s['xla_ratio'][0]:.3f}-{s['xla_ratio'][1]:.3f}",
             f"{'scheme':>7} {'M':>4} {'accuracy':>9} {'tokens':>9} {'critical':>9} {'latency s':>10} {'FLOPs':>10}"]
    for scheme in ("vote", "best", "agents"):
        per_m = s["schemes"].get(scheme, {})
        for m in sorted(per_m, key=int):
            v = per_m[m]
            name = scheme + ("*" if scheme == "best" else "")  # an oracle
            lines.append(f"{name:>7} {m:>4} {v['correct']:>9.3f} {v['tt/tokens_total']:>9.1f} "
                         f"{v['tt/tokens_critical']:>9.1f} {v['tt/latency_s']:>10.4f} {v['tt/flops']:>10.3g}")
    lines.append("* best-of-M selects with the exact verifier: an oracle (upper bound); latency s: the query's "
                 "critical path x the measured decode-step time at its batch (one problem's M rows)")
    return lines
