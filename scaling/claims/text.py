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
    lines = [f"phase claim ('lengthens, compresses, lengthens again') against log10 {r['x']}, "
             f"seeds from {r['seed_col']!r}:"]
    for name, m in r["metrics"].items():
        sl = ", ".join(f"{s:+.3g} ({lo:+.3g} to {hi:+.3g})"
                       for s, (lo, hi) in zip(m["slopes_per_decade"], m["slope_intervals"]))
        br = ", ".join(f"{b:.3g}" for b in m["breaks_compute"])
        lines.append(f"{name}: BIC picks {m['breakpoints']} breakpoint(s) (BIC 0/1/2: "
                     f"{m['bic']['0']:.1f}/{m['bic']['1']:.1f}/{m['bic']['2']:.1f}); 2-breakpoint fit: breaks at "
                     f"{br}, slopes per decade {sl} ({m['n_boot']} resamples of {m['bootstrap_unit']}; "
                     f"2 breakpoints in {m['p_two_breakpoints']:.0%} of them); replicated in {m['replicated']} "
                     f"seeds -> {m['verdict'].upper()}")
    return lines


def parallel_lines(r: dict, cov: dict, null: dict) -> list[str]:
    lines = [f"parallel claim ('accuracy rises with the number of agents while latency stays flat'), scheme "
             f"{r['scheme']}, {r['problems']} problems x {r['seeds']} seed(s), {r['n_boot']} resamples of "
             f"{r['resampled']}:", f"{'M':>4} {'accuracy (95% CI)':>24} {'critical tokens':>16} {'latency s':>10}"]
    for m, a, ci, c, t in zip(r["M"], r["accuracy"], r["accuracy_ci"], r["critical_tokens"], r["latency_s"]):
        lines.append(f"{m:>4} {a:>8.3f} ({ci[0]:.3f}-{ci[1]:.3f}) {c:>16.2f} {t:>10.4f}")
    g, c, t = r["gain_ci"], r["critical_ratio_ci"], r["latency_ratio_ci"]
    lines += [f"accuracy gain per doubling of M: {r['gain_per_doubling']:+.4f} ({g[0]:+.4f} to {g[1]:+.4f})",
              f"M={r['M'][-1]} vs M=1: critical-path tokens x{r['critical_ratio']:.3g} ({c[0]:.3g}-{c[1]:.3g}), "
              f"measured latency x{r['latency_ratio']:.3g} ({t[0]:.3g}-{t[1]:.3g}); flat means <= x{r['flat']:g}",
              f"-> on the critical path: {r['verdict_critical_path'].upper()}; on measured latency: "
              f"{r['verdict_latency'].upper()}",
              f"coverage c(k) = exp(a k^b): a={cov['a']:.4g} ({cov['a_ci'][0]:.4g} to {cov['a_ci'][1]:.4g}), "
              f"b={cov['b']:.4g} ({cov['b_ci'][0]:.4g} to {cov['b_ci'][1]:.4g}) (pass@k "
              + ", ".join(f"{k}:{v:.3f}" for k, v in zip(cov["k"], cov["pass_at_k"])) + ")",
              "majority-vote null (independent draws from each problem's answer distribution): "
              + ", ".join(f"M={m}: {p:.3f} vs measured {v:.3f}" for m, p, v in
                          zip(null["M"], null["predicted"], null["measured"]))
              + f"; limit (easy problems) {null['easy_fraction']:.3f}"]
    return lines


def testtime_lines(s: dict) -> list[str]:
    lines = [f"test-time study of {s['run']} ({s['stage']}, {s['problems']} {s['set']} {s['kind']} problems, "
             f"seeds {s['seeds']}, budget {s['max_len']} tokens); XLA/analytic FLOPs "
             f"{s['xla_ratio'][0]:.3f}-{s['xla_ratio'][1]:.3f}",
             f"{'scheme':>7} {'M':>4} {'accuracy':>9} {'tokens':>9} {'critical':>9} {'latency s':>10} {'FLOPs':>10}"]
    for scheme in ("vote", "best", "agents"):
        per_m = s["schemes"].get(scheme, {})
        for m in sorted(per_m, key=int):
            v = per_m[m]
            lines.append(f"{scheme:>7} {m:>4} {v['correct']:>9.3f} {v['tt/tokens_total']:>9.1f} "
                         f"{v['tt/tokens_critical']:>9.1f} {v['tt/latency_s']:>10.4f} {v['tt/flops']:>10.3g}")
    return lines
