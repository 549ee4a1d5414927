"""axe-core, the accessibility checker, run in a Playwright page: where its script is, how to
inject it, and its findings counted by rule.

The script comes from the npm package `axe-core` (pinned: AXE_VERSION), which .ci/run installs
into the same cache as the npm package `pyodide`. It is evaluated through the DevTools protocol,
so the static page's Content-Security-Policy does not stop it and the page itself is unchanged.
"""

from __future__ import annotations

import collections
import os
from pathlib import Path

AXE_VERSION = "4.14.1"
SEVERE = ("serious", "critical")  # the impacts the lab must have none of
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_script() -> Path:
    """axe.min.js in the npm cache (beside the npm package pyodide)."""
    npm = os.environ.get("NAPKIN_PYODIDE_NPM")
    modules = Path(npm).parent if npm else Path.home() / ".cache/napkin-gpt/npm/node_modules"
    return modules / "axe-core" / "axe.min.js"


MISSING = (f"no axe-core at {axe_script()} (.ci/run installs it: npm install --prefix "
           f"~/.cache/napkin-gpt/npm axe-core@{AXE_VERSION})")


def audit(page, stylesheets: bool = False) -> list[dict]:
    """The page's axe violations of impact serious or critical, as it is now (open shadow
    roots included); each with its rule `id`, `impact` and `nodes` (what failed, and why).

    stylesheets: also read every stylesheet and media element (axe's preload), for the two
    rules that need them (css-orientation-lock, no-autoplay-audio); they take seconds on the
    lab's many shadow roots and are the same for every view, so a test runs them once."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_script().read_text(encoding="utf-8"))
        assert page.evaluate("window.axe.version") == AXE_VERSION
    found = page.evaluate(
        """async ([tags, preload]) => (await axe.run(document, {
              runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'], preload}))
            .violations
            .map((v) => ({id: v.id, impact: v.impact, nodes: v.nodes.map((n) => ({
              target: JSON.stringify(n.target), html: n.html.slice(0, 160),
              why: n.failureSummary}))}))""", [TAGS, stylesheets])
    return [v for v in found if v["impact"] in SEVERE]


def counts(violations: list[dict]) -> collections.Counter:
    """Failing elements per rule id."""
    return collections.Counter({v["id"]: len(v["nodes"]) for v in violations})


def table(rows: dict[str, collections.Counter]) -> str:
    """Counts per place and rule, as a plain text table for the test's output."""
    rules = sorted({rule for c in rows.values() for rule in c})
    width = max([len(p) for p in rows] + [5])
    lines = [f"{'place':<{width}} {'total':>5}  " + "  ".join(rules)]
    lines += [f"{place:<{width}} {sum(c.values()):>5}  "
              + "  ".join(f"{c.get(rule, 0):>{len(rule)}}" for rule in rules)
              for place, c in rows.items()]
    total = sum(rows.values(), collections.Counter())
    lines.append(f"{'all':<{width}} {sum(total.values()):>5}  "
                 + "  ".join(f"{total.get(rule, 0):>{len(rule)}}" for rule in rules))
    return "\n".join(lines)


def explain(violations: list[dict], limit: int = 3) -> str:
    """What failed, a few elements per rule, for an assertion's message."""
    return "\n".join(f"{v['id']} ({v['impact']}): " + "; ".join(
        f"{n['target']} {n['why']}" for n in v["nodes"][:limit]) for v in violations)
