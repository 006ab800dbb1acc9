"""The apps' import graph read off the code (issue 23: "no import cycles between apps"): every
import between the project's top-level packages, in-function imports included, as grimp (the
graph import-linter builds) sees it. `make lint` runs it (`python -m trialsite.import_graph`):
it prints any cycle between apps and fails; the layers contract in pyproject.toml says the same
for the apps it lists, and this also catches a contract loosened to let two apps import each
other."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def packages() -> list[str]:
    """The project's top-level packages, as the import-linter configuration lists them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return list(config["root_packages"])


def app_arrows(names: Iterable[str] | None = None) -> set[tuple[str, str]]:
    """(importing app, imported app) for every import between two different apps."""
    import grimp  # a development tool (import-linter's), not needed by the running application

    names = list(names if names is not None else packages())
    graph = grimp.build_graph(*names, cache_dir=None)
    arrows = {
        (importer.split(".")[0], imported.split(".")[0])
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
    }
    return {(a, b) for a, b in arrows if a != b and b in names}


def cycles(arrows: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected groups of more than one app (Tarjan), each sorted; [] when none."""
    apps = sorted({a for arrow in arrows for a in arrow})
    out: dict[str, list[str]] = {a: sorted(b for x, b in arrows if x == a) for a in apps}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(app: str) -> None:
        index[app] = low[app] = len(index)
        stack.append(app)
        on_stack.add(app)
        for other in out[app]:
            if other not in index:
                visit(other)
                low[app] = min(low[app], low[other])
            elif other in on_stack:
                low[app] = min(low[app], index[other])
        if low[app] == index[app]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == app:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for app in apps:
        if app not in index:
            visit(app)
    return sorted(groups)


def main() -> int:
    arrows = app_arrows()
    found = cycles(arrows)
    for group in found:
        detail = ", ".join(f"{a} → {b}" for a, b in sorted(arrows) if a in group and b in group)
        print(f"import cycle between apps: {' ↔ '.join(group)} ({detail})")
    if not found:
        print(f"import graph: {len(arrows)} arrows between {len(packages())} apps, no cycle")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
