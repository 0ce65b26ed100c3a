"""`python -m scaling.calibration <claim> [--draws 200] [--seed 0]`: the claim's calibration table
(verdict rates over synthetic sweeps with planted truths, on the RL design)."""

from __future__ import annotations

import argparse
import sys
import time

from scaling.calibration import CLAIMS, calibrate, render
from scaling.errors import ScalingError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m scaling.calibration", description=__doc__)
    p.add_argument("claim", help=f"one of {', '.join(CLAIMS)}")
    p.add_argument("--draws", type=int, default=200, help="synthetic sweeps per truth and design")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    try:
        rows = calibrate(a.claim, a.draws, a.seed)
    except ScalingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(render(a.claim, rows))
    print(f"({a.draws} draws per row, seed {a.seed}, {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
