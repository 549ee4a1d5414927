"""A second visit restores the first one's Python from a memory snapshot (worker.js,
static/pyodide_snapshot.js), and a snapshot with anything wrong with it gives a fresh start,
is deleted and is named in the log. Real Pyodide in Chromium; one browser context, so that
its visits share their Cache Storage, and four boots in all (see tests/support/pyodide.py
for the distribution these need)."""

from __future__ import annotations

from tests.support.browser import local_page
from tests.support.pyodide import BOOT_MS, app, python, settled, wait_in_worker

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
