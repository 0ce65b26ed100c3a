"""The code version is decided by an allow-list of folders and modules; every module of the
package is classified, so a new module cannot silently change (or fail to change) it."""

from __future__ import annotations

from pathlib import Path

from scaling import provenance


def _top_entries() -> set[str]:
    return {p.name for p in provenance.PACKAGE.iterdir()
            if p.name != "__pycache__" and (p.is_dir() or p.suffix == ".py")}


def test_every_module_is_classified_once():
    decides, reads = set(provenance.DECIDES_RECORDS), set(provenance.READS_ONLY)
    assert not decides & reads, f"classified both ways: {sorted(decides & reads)}"
    unclassified = _top_entries() - decides - reads
    assert not unclassified, (f"modules that neither decide records nor are listed as reading only: "
                              f"{sorted(unclassified)}; add each to provenance.DECIDES_RECORDS or READS_ONLY")
    stale = (decides | reads) - _top_entries()
    assert not stale, f"listed in provenance but not in the package: {sorted(stale)}"


def test_code_version_counts_exactly_the_deciding_modules():
    counted = {p.relative_to(provenance.PACKAGE).parts[0] for p in provenance.PACKAGE.rglob("*.py")
               if provenance._counts(p)}
    assert counted == set(provenance.DECIDES_RECORDS) & _top_entries()


def test_code_version_moves_with_a_deciding_module(tmp_path, monkeypatch):
    # a copy of the package: editing a deciding module changes the version, a reading one does not
    import shutil

    pkg = tmp_path / "scaling"
    shutil.copytree(provenance.PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "PACKAGE", pkg)
    before = provenance.code_version()
    (pkg / "plots.py").write_text((pkg / "plots.py").read_text() + "\n# a reader's edit\n")
    assert provenance.code_version() == before
    (pkg / "flops.py").write_text((pkg / "flops.py").read_text() + "\n# a deciding edit\n")
    assert provenance.code_version() != before


def test_same_code_accepts_only_listed_versions():
    assert provenance.same_code(provenance.code_version())
    assert not provenance.same_code("000000000000") and not provenance.same_code(None)
    for old in provenance.SAME_RECORDS:
        assert provenance.same_code(old)
