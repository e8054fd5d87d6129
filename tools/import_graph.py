"""Print the import graph of pairrank's sub-packages and fail on a cycle or an import that points up.

    python tools/import_graph.py [--root src/pairrank]

Every import statement counts, wherever it is (module level, inside a
function, under TYPE_CHECKING), so a lazy import cannot hide a cycle. Exit
code 1 lists each problem with its file and line.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

# Lowest first. A module may import its own part and the parts of lower layers, never a higher layer
# or another part of its own layer. "pairrank" is the package root: the public face (`pairrank.load`).
LAYERS: list[set[str]] = [
    {"version", "errors", "progress"},
    {"data"},
    {"encoders", "eval"},
    {"train"},
    {"models"},
    {"judges"},
    {"pipeline"},
    {"experiments"},
    {"api"},
    {"serve"},
    {"cli"},
    {"pairrank", "__main__"},
]


@dataclass(frozen=True)
class Edge:
    source: str  # importing module, dotted
    target: str  # imported module, dotted
    where: str  # file:line


def module_name(path: Path, root: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path) -> list[Edge]:
    """Every import of the package's own modules in one file."""
    package = root.name
    source = module_name(path, root)
    is_init = path.name == "__init__.py"
    edges = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = source.split(".")[: len(source.split(".")) - node.level + (1 if is_init else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base]
        for target in targets:
            if target == package or target.startswith(package + "."):
                edges.append(Edge(source, target, f"{path}:{node.lineno}"))
    return edges


def part(module: str) -> str:
    """The sub-package or top-level module a dotted name belongs to ("pairrank" for the root)."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else pieces[0]


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def layer_of(name: str, layers: list[set[str]]) -> int | None:
    return next((i for i, layer in enumerate(layers) if name in layer), None)


def check(root: Path, layers: list[set[str]] | None = None) -> tuple[dict[str, set[str]], list[str]]:
    """The part-level graph and the problems found (cycles between parts or modules, upward imports)."""
    edges = [edge for path in sorted(root.rglob("*.py")) for edge in imports(path, root)]
    parts: dict[str, set[str]] = defaultdict(set)
    modules: dict[str, set[str]] = defaultdict(set)
    known = {module_name(p, root) for p in root.rglob("*.py")}
    for edge in edges:
        target = edge.target if edge.target in known else edge.target.rsplit(".", 1)[0]
        modules[edge.source].add(target)
        if part(edge.source) != part(target):
            parts[part(edge.source)].add(part(target))
    problems = [f"cycle between parts: {' <-> '.join(c)}" for c in find_cycles(parts)]
    problems += [f"cycle between modules: {' <-> '.join(c)}" for c in find_cycles(modules)]
    for edge in edges if layers else ():
        source, target = part(edge.source), part(edge.target)
        low, high = layer_of(target, layers), layer_of(source, layers)
        if low is None or high is None:
            problems.append(f"{edge.where}: {source} or {target} has no layer in LAYERS")
        elif source != target and low >= high:
            problems.append(f"{edge.where}: {edge.source} imports {edge.target}, which is not in a lower layer")
    return parts, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1] / "src" / "pairrank")
    args = parser.parse_args()
    graph, problems = check(args.root, LAYERS)
    for name in sorted(graph, key=lambda n: (layer_of(n, LAYERS) or 0, n)):
        print(f"{name} -> {', '.join(sorted(graph[name]))}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print(f"{len(problems)} problem(s)" if problems else "no cycles; every import points down")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
