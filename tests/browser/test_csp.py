"""The static site behind a host that sends its own Content Security Policy, in Chromium.

docs/static-site.md gives hosts the policy to send; these tests read it from there (the one
```http block), so the docs and what runs cannot drift apart. The page carries a policy of
its own in a <meta> tag (app/site/build.py); the browser enforces both. The site is the
npm-core build (`npm_site`): Python starts in the worker and the boot ends at the missing
numpy, as in test_static_page.py.
"""

from __future__ import annotations

import contextlib
import re

import pytest

from app.site.build import PYODIDE_CDN, PYODIDE_VERSION, content_security_policy
from tests.support.models import ROOT
from tests.support.static_site import Visit, serving

DOCS = ROOT / "docs" / "static-site.md"
POLICY_LINE = re.compile(r"```http\nContent-Security-Policy: ([^\n]+)\n```")
# Every securitypolicyviolation event of the document, from its first script on (boot.js
# records them too, and the worker's, in napkin.log.refused, but only once it has run).
RECORD_REFUSED = """document.addEventListener("securitypolicyviolation",
  (e) => (window.refusedHere ||= []).push(`${e.blockedURI} (${e.effectiveDirective})`));"""


def documented_policy() -> str:
    found = POLICY_LINE.findall(DOCS.read_text(encoding="utf-8"))
    assert len(found) == 1, f"{DOCS} must hold one ```http block with the policy, found {found}"
    return found[0]


def without_blob_in_script_src(policy: str) -> str:
    directives = [d.split() for d in policy.split(";")]
    changed = [[w for w in d if w != "blob:"] if d[0] == "script-src" else d for d in directives]
    assert changed != directives, "the documented script-src has no blob: to take away"
    return "; ".join(" ".join(d) for d in changed)


@pytest.fixture
def behind(browser, npm_site):
    """Open a page of the site served with a given Content-Security-Policy header."""
    with contextlib.ExitStack() as stack:

        def open_page(policy: str, page: str = "index.html") -> Visit:
            served = stack.enter_context(serving(npm_site, {"Content-Security-Policy": policy}))
            visit = Visit(browser, served.url)
            stack.callback(visit.close)
            visit.context.add_init_script(RECORD_REFUSED)
            response = visit.page.goto(served.url + page)
            assert response.headers["content-security-policy"] == policy
            return visit

        yield open_page


def test_the_documented_policy_is_the_pages_own_and_so_is_the_nginx_line():
    policy = documented_policy()
    assert policy == content_security_policy(PYODIDE_CDN)  # the default build's <meta> policy
    assert f'add_header Content-Security-Policy "{policy}";' in DOCS.read_text(encoding="utf-8")


@pytest.mark.parametrize("page", ["index.html", "embed.html#view=tokens"])
def test_the_documented_policy_lets_python_start_in_the_worker(behind, page):
    v = behind(documented_policy(), page)
    assert v.settled() == "error"  # the npm core has no numpy: the boot ends there
    assert v.page.evaluate("napkin.log.results.hello") == {"python": "3.13.2",
                                                           "pyodide": PYODIDE_VERSION}
    assert v.page.inner_text("#error-text").startswith(
        "These Python packages could not be loaded: numpy")
    assert v.done_stages() == ["runtime"]
    assert v.page.evaluate("[window.refusedHere ?? [], napkin.log.refused]") == [[], []]
    assert v.errors == []


# Without blob: in script-src the worker may start (the documented worker-src allows it) but
# not run Pyodide's scripts; with no worker-src at all the browser takes script-src, and
# refuses the worker itself.
SCRIPT_SRC_ALONE = "script-src 'self' 'unsafe-inline' 'unsafe-eval' 'wasm-unsafe-eval'"


@pytest.mark.parametrize("policy, message", [
    pytest.param(without_blob_in_script_src,
                 f"The browser refused to run {PYODIDE_CDN}pyodide.js from a blob: URL.",
                 id="documented-without-blob"),
    pytest.param(lambda _: SCRIPT_SRC_ALONE,
                 "The Python worker could not start: the browser refused to run it.",
                 id="script-src-alone-without-blob"),
])
def test_a_policy_without_blob_in_script_src_stops_with_a_readable_message(
        behind, policy, message):
    v = behind(policy(documented_policy()))
    assert v.settled() == "error"
    text = v.page.inner_text("#error-text")
    assert text.startswith(message)
    assert "A Content Security Policy that does not allow blob: in script-src" in text
    assert v.page.evaluate("napkin.log.results.hello") is None  # Python never started
    assert v.done_stages() == []
    assert v.page.is_visible("#retry") and v.page.is_visible('[data-view="attention"]')
    v.page.wait_for_function("window.refusedHere?.length > 0")  # Panel's module shim, too
    refused = v.page.evaluate("window.refusedHere")
    assert refused and all(r.startswith("blob") for r in refused), refused
