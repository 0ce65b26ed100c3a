"""The house's seams, checked from the code's own imports (`ast`, nothing is run):

- no import circles between the package's modules (top-level and function-local imports alike);
- no arrow from the library into `scaling.cli` (only the CLI prints; nothing imports it);
- no stage branch (`stage == ...`) outside the stage table, no family branch outside the family table;
- the planner stays light: `scaling.sweep` never imports JAX (checked in a fresh process).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "scaling"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def _imports(path: Path, modules: dict[str, Path]) -> list[tuple[str, bool]]:
    """(imported package module, at top level?) for every import of a module of the package."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    top = {id(n) for n in tree.body} | {id(n) for s in tree.body if isinstance(s, (ast.If, ast.Try))
                                        for n in ast.walk(s)}
    out = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for t in targets:
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t != name and t.startswith("scaling"):
                out.append((t, id(node) in top))
    return out


def graph(local: bool = True) -> dict[str, set[str]]:
    modules = _modules()
    return {m: {t for t, at_top in _imports(p, modules) if at_top or local} for m, p in modules.items()}


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), ignoring a package's
    __init__ handing names on from its own submodules."""
    g = {m: {t for t in ts if not (m.startswith(t + ".") and _modules()[t].name == "__init__.py")}
         for m, ts in g.items()}
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def upward_into_cli(g: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((m, t) for m, ts in g.items() if not m.startswith("scaling.cli") for t in ts
                  if t.startswith("scaling.cli"))


def function_local_imports() -> list[str]:
    modules = _modules()
    return [f"{m}: {t}" for m, p in modules.items() for t, at_top in _imports(p, modules) if not at_top]


# a stage or family compared with a name (grouping runs by their stage, `job.stage == stage`, is no branch)
STAGE_BRANCH = re.compile(r"""\bstage\b["')\]]*\s*([=!]=|\bin\b)\s*[("']|[=!]=\s*["'](rl|pretrain)["']""")
# model families by name (the reasoning world's problem families are another table, in scaling.data.reasoning)
FAMILY_BRANCH = re.compile(r"""[=!]=\s*["'](early|late|blind)["']|["'](early|late|blind)["']\s*[=!]=|"""
                           r"""\(\s*["'](early|late|blind)["']\s*,""")


def branches(pattern: re.Pattern, allowed: tuple[str, ...]) -> list[str]:
    out = []
    for m, p in _modules().items():
        if m in allowed:
            continue
        for i, line in enumerate(p.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code):
                out.append(f"{p.relative_to(PACKAGE.parent)}:{i}: {line.strip()}")
    return out


def test_no_import_circles():
    assert circles(graph()) == []


def test_nothing_imports_the_cli():
    assert upward_into_cli(graph()) == []


def test_no_stage_branch_outside_the_stage_table():
    assert branches(STAGE_BRANCH, ("scaling.sweep.stages",)) == []


def test_no_family_branch_outside_the_family_table():
    assert branches(FAMILY_BRANCH, ("scaling.families",)) == []


def test_the_checks_can_fail():
    # the detectors find what they look for
    assert circles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert STAGE_BRANCH.search('if sweep.stage == "rl":') and STAGE_BRANCH.search("s.get('stage', 'pretrain') == 'pretrain'")
    assert not STAGE_BRANCH.search("[j for j in jobs if j.stage == stage]")
    assert FAMILY_BRANCH.search("if m.family == 'early':") and not FAMILY_BRANCH.search("family = row.name")
    assert FAMILY_BRANCH.search('for family in ("early", "late", "blind"):')


@pytest.mark.parametrize("module", ["scaling.sweep", "scaling.sweep.spec", "scaling.sweep.runner", "scaling.flops",
                                    "scaling.config", "scaling.schedule"])
def test_planner_imports_no_jax(module):
    code = f"import sys, {module}; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", f"importing {module} imports jax"


if __name__ == "__main__":  # figures for a note: python tests/test_architecture.py
    g = graph()
    cs = circles(g)
    print(f"modules {len(g)}, arrows {sum(map(len, g.values()))}, circles {len(cs)}: {cs}")
    print(f"arrows into cli from the library: {upward_into_cli(g)}")
    fl = function_local_imports()
    print(f"function-local imports of package modules: {len(fl)}")
    print(f"stage branches outside the table: {len(branches(STAGE_BRANCH, ('scaling.sweep.stages',)))}")
    print(f"family branches outside the table: {len(branches(FAMILY_BRANCH, ('scaling.families',)))}")
    sizes = sorted(((len(p.read_text().splitlines()), m) for m, p in _modules().items()), reverse=True)[:5]
    print("largest files:", ", ".join(f"{m} {n}" for n, m in sizes))
