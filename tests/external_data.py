"""Where the public reference data sets live (../shared/data/external beside the checkout)."""

from pathlib import Path

import pytest

EXTERNAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "external"


def external(name: str) -> Path:
    """The folder of data set `name`; skips the test with the reason when it is absent."""
    path = EXTERNAL / name
    if not path.is_dir():
        pytest.skip(f"reference data {path} is absent (shared/data/external not checked out)")
    return path
