"""`scaling claim phases` (does reasoning length lengthen, compress, then lengthen again?) and
`scaling claim parallel` (does accuracy rise with parallel agents while latency stays flat?)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from scaling.cli.compare import claim_app
from scaling.records import jsonable


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


@claim_app.command("phases")
def phases_cmd(
    source: Path = typer.Argument(..., help="An RL sweep folder or a CSV with compute, length and seed columns."),
    x: str = typer.Option("rl/flops", "--x", help="RL compute column."),
    y: List[str] = typer.Option(["eval/length/heldout"], "--y", help="Length column (repeatable)."),
    seed_col: str = typer.Option("seed", "--seed-col", help="Seed column (whole seeds are resampled)."),
    group: Optional[str] = typer.Option(None, "--group", help="Analyse each value separately (e.g. grpo.length_coef)."),
    n_boot: int = typer.Option(400, "--bootstrap", help="Bootstrap resamples."),
    replicate: float = typer.Option(0.5, "--replicate", help="Supported needs more than this fraction of seeds to replicate."),
    min_seg: int = typer.Option(3, "--min-seg", help="Distinct compute values per segment, at least."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Piecewise-linear length vs log compute (0/1/2 breakpoints by BIC), slope intervals over seeds, verdict."""
    from scaling.claims.phases import phases_claim
    from scaling.errors import DataError
    from scaling.fit.io import read_table

    if n_boot < 10:
        raise DataError(f"--bootstrap {n_boot}: at least 10 resamples are needed")
    if not 0 <= replicate < 1:
        raise DataError(f"--replicate {replicate}: must lie in [0, 1)")
    if min_seg < 2:
        raise DataError(f"--min-seg {min_seg}: a segment needs at least 2 compute values")
    r = phases_claim(read_table(source), x, list(y), seed_col=seed_col, group=group, n_boot=n_boot,
                     replicate=replicate, min_seg=min_seg)
    typer.echo(json.dumps(jsonable(r), indent=2) if json_out else "\n".join(phases_lines(r)))


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


@claim_app.command("parallel")
def parallel_cmd(
    study: Path = typer.Argument(..., help="A `scaling testtime` output folder."),
    scheme: str = typer.Option("agents", "--scheme", help="vote, best or agents."),
    flat: float = typer.Option(1.25, "--flat", help="Largest M_max/M=1 ratio that counts as flat."),
    n_boot: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Accuracy gain per doubling of M, critical-path and latency ratios with CIs, coverage law, vote null."""
    from scaling.claims.parallel import coverage_law, parallel_claim, vote_null
    from scaling.errors import DataError
    from scaling.testtime.study import read_rows

    if n_boot < 10:
        raise DataError(f"--bootstrap {n_boot}: at least 10 resamples are needed")
    rows = read_rows(study)
    r = parallel_claim(rows, scheme=scheme, flat=flat, n_boot=n_boot)
    cov, null = coverage_law(rows), vote_null(rows)
    if json_out:
        typer.echo(json.dumps(jsonable({"claim": r, "coverage": cov, "vote_null": null}), indent=2))
    else:
        typer.echo("\n".join(parallel_lines(r, cov, null)))
