"""Python restored from a memory snapshot (worker.js, static/pyodide_snapshot.js): a second
visit restores the one the first visit left in the browser, a site built with --snapshot
starts from its own, and a snapshot with anything wrong with it gives a fresh start, is
deleted and is named in the log. Real Pyodide in Chromium (see tests/support/pyodide.py for
the distribution these need); six boots in all."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.site.memory_snapshot import SNAPSHOT_FILE
from tests.browser.test_csp import documented_policy
from tests.support.browser import local_page
from tests.support.models import ROOT
from tests.support.pyodide import BOOT_MS, DIST, NO_DIST, app, python, settled, wait_in_worker
from tests.support.static_site import page_config, serving

SESSION = "bridge.lab.session"
# In the page: the site's one snapshot, read, changed by `edit` (gzipped bytes -> bytes) and
# written back under `url` (the current key unless given).
REWRITE = """async ([edit, url]) => {
  const cache = await caches.open('napkin-gpt-snapshots');
  const key = napkin.log.snapshot.key;
  const zipped = new Uint8Array(await (await cache.match(key)).arrayBuffer());
  const edits = {
    // the first half of the file only, as a write cut short would leave it
    cut: async (z) => z.slice(0, z.length >> 1),
    // the compiled extensions loaded in reverse order: their memory and function slots no
    // longer line up with the saved memory (same JSON length, so the header still parses)
    reorder: async (z) => {
      const raw = new Uint8Array(await new Response(new Blob([z]).stream()
        .pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
      const length = new DataView(raw.buffer).getUint32(8, true);
      const text = new TextDecoder().decode(raw.subarray(12, 12 + length));
      const header = JSON.parse(text);
      header.extensions.reverse();
      raw.set(new TextEncoder().encode(JSON.stringify(header).padEnd(length)), 12);
      return new Uint8Array(await new Response(new Blob([raw]).stream()
        .pipeThrough(new CompressionStream('gzip'))).arrayBuffer());
    },
    same: async (z) => z,
  };
  await cache.put(url ?? key, new Response(await edits[edit](zipped)));
  return (await cache.keys()).map((r) => r.url);
}"""


def visit(context, url: str, view: str = "next"):
    page = context.new_page()
    page.outside, page.errors = [], []
    page.goto(url + f"index.html#view={view}")
    assert settled(page) == "ready", page.inner_text("#error-text")
    return page


def snapshot_log(page) -> dict:
    return page.evaluate("napkin.log.snapshot")


def wait_for_snapshot(page) -> dict:
    page.wait_for_function("napkin.log.snapshot.taking === false", timeout=BOOT_MS)
    return snapshot_log(page)


def test_a_second_visit_restores_python_and_a_bad_snapshot_gives_a_fresh_start(browser,
                                                                            pyodide_site):
    context = local_page(browser).context
    first = visit(context, pyodide_site.url)
    assert snapshot_log(first)["restored"] is False
    log = wait_for_snapshot(first)
    assert [n for n in log["notes"] if n.startswith("saved a snapshot")], log
    first.close()

    # the second visit: restored, and the lab works
    second = visit(context, pyodide_site.url)
    log = snapshot_log(second)
    assert log["restored"] is True and "restored the snapshot" in " ".join(log["notes"]), log
    timings = second.evaluate("napkin.log.timings")
    assert timings["packages"]["bytes"] == 0  # site-packages came with the snapshot
    assert python(second, "import numpy as np\nround(float(np.linalg.det(np.array("
                          "[[2., 1.], [1., 3.]]))), 9)") == 5.0
    assert python(second, "import random; random.random() != 0.8444218515250481")  # reseeded
    app(second).get_by_role("button", name="Attention", exact=True).click()
    app(second).get_by_text("attends most to").first.wait_for(timeout=120_000)
    assert python(second, "bridge.lab.view") == "attention"
    app(second).get_by_role("button", name="Next token", exact=True).click()
    before = python(second, f"{SESSION}.prompt")
    app(second).get_by_role("button", name="Generate next token").click()
    wait_in_worker(second, f"len({SESSION}.prompt) > {len(before)}", 60)
    assert second.evaluate("napkin.log.errors") == [] and second.errors == []

    # a snapshot whose extensions no longer line up, and one of another build beside it
    other = pyodide_site.url + "napkin-snapshot/" + "0" * 64
    second.evaluate(REWRITE, ["same", other])
    second.evaluate(REWRITE, ["reorder", None])
    key = log["key"]
    second.close()
    third = visit(context, pyodide_site.url)
    log = snapshot_log(third)
    notes = " ".join(log["notes"])
    assert log["restored"] is False, log
    assert f"deleted the snapshot of another build ({other})" in notes, notes
    assert "deleted the snapshot: restoring it failed" in notes, notes
    assert python(third, "import numpy as np\nfloat(np.ones(4) @ np.arange(4.))") == 6.0
    log = wait_for_snapshot(third)  # a good one again
    assert third.evaluate("async () => (await (await caches.open('napkin-gpt-snapshots'))"
                          ".keys()).map((r) => r.url)") == [key]

    # a snapshot cut short
    third.evaluate(REWRITE, ["cut", None])
    third.close()
    fourth = visit(context, pyodide_site.url)
    log = snapshot_log(fourth)
    assert log["restored"] is False, log
    assert "deleted the snapshot: reading it failed" in " ".join(log["notes"]), log
    assert python(fourth, f"{SESSION}.layer") in (0, 1, 2)
    for page in (first, second, third, fourth):
        assert page.outside == [] and page.errors == []
    assert not [p for code, p in pyodide_site.log if code >= 400]
    context.close()


def test_a_snapshot_over_the_browsers_quota_is_not_kept_and_the_lab_works(browser,
                                                                         pyodide_site):
    """The origin's storage quota (set through the DevTools protocol) is smaller than the
    snapshot: the page says it took none, keeps nothing half-written, and the lab runs."""
    page = local_page(browser)
    context = page.context
    cdp = context.new_cdp_session(page)
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": pyodide_site.url.rstrip("/"),
                                                "quotaSize": 4_000_000})
    page.goto(pyodide_site.url + "index.html#view=next")
    assert settled(page) == "ready", page.inner_text("#error-text")
    notes = " ".join(wait_for_snapshot(page)["notes"])
    assert "no snapshot taken" in notes and "quota" in notes.lower(), notes
    assert page.evaluate("async () => (await (await caches.open('napkin-gpt-snapshots'))"
                         ".keys()).length") == 0
    before = python(page, f"{SESSION}.prompt")
    app(page).get_by_role("button", name="Generate next token").click()
    wait_in_worker(page, f"len({SESSION}.prompt) > {len(before)}", 60)
    assert page.errors == [] and page.evaluate("napkin.log.errors") == []
    context.close()


@pytest.fixture(scope="module")
def snapshot_site(tmp_path_factory):
    """A --self-host site built with --snapshot (Node takes the snapshot), served behind the
    Content Security Policy docs/static-site.md gives hosts: a restore needs no more."""
    if not DIST:
        pytest.skip(NO_DIST)
    out = tmp_path_factory.mktemp("snapshot-site")
    done = subprocess.run([sys.executable, "-m", "app.cli", "build", "--out", str(out),
                           "--self-host", DIST, "--offline", "--snapshot"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    with serving(out, {"Content-Security-Policy": documented_policy()}) as served:
        yield served


def test_a_site_built_with_snapshot_starts_from_it_and_without_it_if_it_is_tampered(
        browser, snapshot_site):
    config = page_config((snapshot_site.root / "index.html").read_text())
    assert config["snapshotFile"] == SNAPSHOT_FILE
    assert config["integrity"][SNAPSHOT_FILE].startswith("sha384-")
    assert (snapshot_site.root / SNAPSHOT_FILE).read_bytes()[:2] == b"\x1f\x8b"  # gzip

    first = local_page(browser)
    first.goto(snapshot_site.url + "index.html#view=attention")
    assert settled(first) == "ready", first.inner_text("#error-text")
    log = snapshot_log(first)
    assert log["restored"] is True, log
    assert "from the site" in " ".join(log["notes"]), log
    assert first.evaluate("napkin.log.timings.packages.bytes") == 0
    app(first).get_by_text("attends most to").first.wait_for(timeout=120_000)
    assert python(first, "import numpy as np\nint(np.arange(5).sum())") == 10
    assert first.evaluate("napkin.log.refused") == []
    wheels = [p for code, p in snapshot_site.log if p.endswith(".whl")]
    assert wheels == []  # site-packages came with the snapshot
    first.context.close()

    # a snapshot file that is not the one pinned: refused, and Python starts afresh
    tampered = local_page(browser)

    def flip(route):
        response = route.fetch()
        body = bytearray(response.body())
        body[len(body) // 2] ^= 0xFF
        route.fulfill(response=response, body=bytes(body))

    tampered.context.route(f"**/{SNAPSHOT_FILE}", flip)
    tampered.goto(snapshot_site.url + "index.html#view=next")
    assert settled(tampered) == "ready", tampered.inner_text("#error-text")
    log = snapshot_log(tampered)
    notes = " ".join(log["notes"])
    assert log["restored"] is False, log
    assert "the site's snapshot was not used" in notes and "Integrity check failed" in notes
    assert python(tampered, f"{SESSION}.layer") in (0, 1, 2)
    for page in (first, tampered):
        assert page.outside == [] and page.errors == []
    tampered.context.close()
