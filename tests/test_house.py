"""The house rules of design.md, checked on the source: imports flow one way (engine -> i18n ->
session -> views -> tour -> lab -> site, cli) with no cycle, the engine needs only numpy and the
standard library, no folder of app/ holds more than 12 modules, no module is over 400 lines."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from tests.support.models import ROOT

# Each room may import its own and the rooms before it, never one after it.
ROOMS = ("engine", "app.i18n", "app.session", "app.views", "app.tour", "app.lab", "app.site",
         "app.cli")
MAX_MODULES = 12
MAX_LINES = 400
ENGINE_MAY_IMPORT = {"numpy"}


def modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the two packages."""
    found = {}
    for package in ("engine", "app"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def room(name: str) -> int | None:
    ranks = [i for i, r in enumerate(ROOMS) if name == r or name.startswith(r + ".")]
    return ranks[-1] if ranks else None


def test_every_module_has_a_room():
    assert [n for n in modules() if room(n) is None and n not in ("app",)] == []


def test_imports_never_point_back_up():
    ours = modules()
    upward = [f"{name} -> {target}"
              for name, path in ours.items() for target in imports(path)
              if target in ours and room(name) is not None and room(target) is not None
              and room(target) > room(name)]
    assert upward == []


def test_there_is_no_import_cycle():
    ours = modules()
    graph = {name: {t for t in imports(path) if t in ours and t != name}
             for name, path in ours.items()}
    # a package's __init__ importing its own modules is how packages work, not a cycle
    graph = {n: {t for t in targets if not t.startswith(n + ".")} for n, targets in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_engine_needs_only_numpy_and_the_standard_library():
    outside = {f"{name}: {target}" for name, path in modules().items() if room(name) == 0
               for target in imports(path)
               if target.split(".")[0] not in sys.stdlib_module_names | ENGINE_MAY_IMPORT
               | {"engine", "__future__"}}
    assert outside == set()


def test_no_folder_of_app_holds_more_than_twelve_modules():
    folders = {path.parent for path in (ROOT / "app").rglob("*.py")}
    crowded = {str(f.relative_to(ROOT)): n for f in folders
               if (n := len([p for p in f.glob("*.py") if p.name != "__init__.py"])) > MAX_MODULES}
    assert crowded == {}


def test_no_module_is_over_four_hundred_lines():
    long = {str(p.relative_to(ROOT)): n for p in modules().values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_every_file_of_the_packages_is_in_the_wheel():
    """The wheel (pip install, and the static site's own wheel) carries every module and every
    other file that engine/ and app/ hold: a room or a data file left out of pyproject.toml
    would work in a checkout and fail once installed."""
    import fnmatch
    import subprocess
    import tomllib

    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    data = [f"{package.replace('.', '/')}/{pattern}"
            for package, patterns in setup["package-data"].items() for pattern in patterns]
    tracked = subprocess.run(["git", "ls-files", "engine", "app"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
    assert setup["packages"]["find"]["include"] == ["engine*", "app*"]
    assert setup["packages"]["find"].get("namespaces", True)  # app/lab, app/site: no __init__
    sources = (".py", ".po", ".pot")  # .po/.pot: what the .mo are compiled from (tests only)
    assert [p for p in tracked if not p.endswith(sources)
            and not any(fnmatch.fnmatch(p, pattern) for pattern in data)] == []
