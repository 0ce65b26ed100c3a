"""The house's seams, checked from the code's own imports (`ast`, nothing is run):

- no import circles between the package's modules (top-level and function-local imports alike);
- no arrow from the library into `scaling.cli` (only the CLI prints; nothing imports it);
- no stage branch (`stage == ...`) outside the stage table, no family branch outside the family table;
(that the planner imports no JAX is checked in tests/test_jax_free.py)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

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
            # importing a submodule runs its package's __init__ too: an arrow to the package as well
            targets = [base] + [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
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


def name_comparisons(source: str, names) -> list[int]:
    """Lines comparing something with one of `names` (`x == "early"`, `"rl" != s`, `x in ("a", "b")`):
    a branch on a stage or a family by name. Grouping runs by their stage (`j.stage == stage`)
    compares two variables, and is no such branch."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        for operand in (node.left, *node.comparators):
            consts = list(operand.elts) if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
            if any(isinstance(c, ast.Constant) and c.value in names for c in consts):
                lines.append(node.lineno)
    return sorted(set(lines))


def branches(names, allowed: tuple[str, ...]) -> list[str]:
    return [f"{p.relative_to(PACKAGE.parent)}:{line}" for m, p in _modules().items() if m not in allowed
            for line in name_comparisons(p.read_text(), set(names))]


def stage_branches() -> list[str]:
    from scaling.sweep import stages

    return branches(stages.STAGES, ("scaling.sweep.stages",))


def family_branches() -> list[str]:
    from scaling import families

    return branches(families.FAMILIES, ("scaling.families", "scaling.models.families"))


def test_no_import_circles():
    assert circles(graph()) == []


def test_nothing_imports_the_cli():
    assert upward_into_cli(graph()) == []


def test_no_stage_branch_outside_the_stage_table():
    assert stage_branches() == []


def test_no_family_branch_outside_the_family_table():
    assert family_branches() == []


def test_the_checks_can_fail():
    # the detectors find what they look for
    assert circles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    src = ('def f(m, j, stage):\n    if m.family == "blind":\n        return 1\n    if "late" != m.family:\n'
           '        return 2\n    if j.stage == stage:\n        return 3\n    return m.family in ("early", "x")\n')
    assert name_comparisons(src, {"early", "late", "blind"}) == [2, 4, 8]


if __name__ == "__main__":  # figures for a note: python tests/test_architecture.py
    g = graph()
    cs = circles(g)
    print(f"modules {len(g)}, arrows {sum(map(len, g.values()))}, circles {len(cs)}: {cs}")
    print(f"arrows into cli from the library: {upward_into_cli(g)}")
    fl = function_local_imports()
    print(f"function-local imports of package modules: {len(fl)}")
    print(f"stage branches outside the table: {len(stage_branches())}")
    print(f"family branches outside the table: {len(family_branches())}")
    sizes = sorted(((len(p.read_text().splitlines()), m) for m, p in _modules().items()), reverse=True)[:5]
    print("largest files:", ", ".join(f"{m} {n}" for n, m in sizes))
