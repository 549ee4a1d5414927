"""The static site's pages in Chromium, served from 127.0.0.1. Two kinds of test share one
built site (the `npm_site` fixture):

* Pyodide for real. The site is the default build, which loads Pyodide from its CDN; a
  Playwright route answers the CDN's URLs from the npm package `pyodide` on this machine
  (runtime files) and with 404 for everything else there (numpy and the other compiled
  packages, which no offline machine has). So the shipped page, its CDN URLs and hashes are
  what runs, and nothing leaves the machine. Python starts in the worker; the lab cannot.
* The lab for real, Pyodide stood in for (tests/support/standin_worker.py): boot.js, BokehJS
  and Panel draw the real lab and sync it both ways.

Every request is routed: localhost passes, the CDN is answered locally, anything else is
aborted and recorded, and each test asserts the record is empty.
"""

from __future__ import annotations

import itertools
import json
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from app.site.build import PYODIDE_CDN, PYODIDE_VERSION, RUNTIME_FILES
from tests.support.browser import SHOWN, screenshot
from tests.support.standin_worker import StandInWorker, open_with_standin
from tests.support.static_site import RUNAWAY_SECONDS, Visit, page_config, serving


@pytest.fixture
def standin(npm_site, tmp_path):
    worker = StandInWorker(npm_site, tmp_path)
    yield worker
    worker.close()


# ---- Pyodide for real ----------------------------------------------------------------------------


def test_snapshot_shows_at_once_then_python_starts_and_the_missing_numpy_is_named(
        npm_site, npm_server, visit):
    v = visit()
    started = time.perf_counter()
    v.page.goto(npm_server.url + "index.html#view=next&layer=1", wait_until="commit")
    v.page.locator('[data-view="next"]').wait_for(state="visible", timeout=5_000)
    seen = time.perf_counter() - started
    # shown before the runtime is even loaded (how soon is the browser benchmark's question)
    assert v.page.evaluate("!napkin.log.progress.some((p) => p.stage === 'runtime' && p.done)")
    assert v.page.locator('[data-view="attention"]').is_hidden()
    paint = "performance.getEntriesByName('first-contentful-paint')[0]?.startTime"
    v.page.wait_for_function(f"{paint} !== undefined", timeout=5_000)
    fcp = v.page.evaluate(paint)
    print(f"\nsnapshot visible {seen * 1000:.0f} ms after navigation (first contentful paint "
          f"{fcp:.0f} ms)")
    assert v.settled() == "error"
    # the runtime stage streamed exactly the pinned files, with steps in between
    config = page_config((npm_site / "index.html").read_text())
    runtime = [p for p in v.page.evaluate("napkin.log.progress") if p["stage"] == "runtime"]
    assert runtime[-1]["done"] and runtime[-1]["loaded"] == config["stages"][0]["bytes"]
    steps = [p["loaded"] for p in runtime]
    assert steps == sorted(steps) and len(set(steps)) >= 4
    assert v.page.evaluate("napkin.log.results.hello") == {"python": "3.13.2",
                                                           "pyodide": PYODIDE_VERSION}
    message = v.page.inner_text("#error-text")
    assert message.startswith("These Python packages could not be loaded: numpy, pyyaml, "
                              "markupsafe, nh3.")
    assert "numpy-2.2.5-cp313-cp313-pyodide_2025_0_wasm32.whl" in message
    assert v.page.is_visible("#retry") and v.page.is_visible('[data-view="next"]')
    screenshot(v.page, "static-numpy-missing")
    # our wheels came from the site and passed Pyodide's sha256 check; only numpy & co failed
    assert set(v.cdn) == {*RUNTIME_FILES, *(
        json.loads((npm_site / "packages/pyodide-lock.json").read_text())["packages"][n][
            "file_name"].removeprefix(PYODIDE_CDN) for n in ("numpy", "pyyaml", "markupsafe",
                                                             "nh3"))}
    assert not [p for code, p in npm_server.log if code >= 400]


@pytest.mark.parametrize(("address", "locale", "lang", "words"), [
    ("#lang=es&view=next", "en-US", "es", ["Entorno de Python", "Paquetes", "Modelo",
                                            "Primer dibujo", "Reintentar", "Arrancando Python…",
                                            "El laboratorio en vivo no pudo arrancar.",
                                            "Siguientes tokens más probables a temperatura"]),
    ("", "zh-CN", "zh-Hans", ["Python 运行环境", "软件包", "模型", "首次绘制", "重试",
                              "正在启动 Python…", "实时实验室无法启动。", "块 0，头 0："]),
])
def test_the_boot_speaks_the_language_of_the_link_or_the_browser(visit, npm_server, address,
                                                                 locale, lang, words):
    """Before Python runs, boot.js picks the language (the address's lang=, else the
    browser's) and takes every word it shows from the build's catalogues, the snapshot of the
    view in that language too."""
    v = visit(locale=locale)
    seen = []
    v.page.expose_function("seen", lambda text: seen.append(text))
    v.page.add_init_script("""new MutationObserver(() => {
        const status = document.getElementById('status');
        if (status) window.seen(status.textContent);
      }).observe(document, {subtree: true, childList: true, characterData: true});""")
    v.page.goto(npm_server.url + "index.html" + address)
    assert v.settled() == "error"  # no numpy on this machine: Python starts, the lab cannot
    assert v.page.evaluate("document.documentElement.lang") == lang
    stages = v.page.locator("#stages li").all_inner_texts()
    shown = " ".join([*stages, v.page.inner_text("body"), *seen])
    assert [w for w in words if w not in shown] == []
    assert v.page.locator("#snapshot [data-lang]:visible").count() == 1  # one view, one language
    assert "Block 0, head 0" not in shown and "Likeliest next tokens" not in shown
    assert v.page.get_attribute("#snapshot", "aria-label") != (
        "A snapshot of the lab, shown while the live lab loads")


def test_a_late_lock_file_is_downloaded_and_counted_once(browser, npm_site):
    """Pyodide asks for the lock file while it boots; when the worker's own early request has
    not been answered by then, the two share one download (they once made two, and the
    runtime stage counted the lock file's bytes twice)."""
    config = page_config((npm_site / "index.html").read_text())
    with serving(npm_site, delays={"packages/pyodide-lock.json": 4.0}) as slow:
        v = Visit(browser, slow.url)
        try:
            v.page.goto(slow.url + "index.html")
            assert v.settled() == "error"  # at the missing numpy, as always with the npm core
            runtime = [p for p in v.page.evaluate("napkin.log.progress")
                       if p["stage"] == "runtime"]
            assert runtime[-1]["loaded"] == config["stages"][0]["bytes"]
            assert [p for _, p in slow.log if p.endswith("pyodide-lock.json")] == [
                "/packages/pyodide-lock.json"]
        finally:
            v.close()


def test_retry_starts_a_fresh_worker_after_a_failed_download(visit, npm_server):
    v = visit(fail_once=("pyodide.asm.wasm",))
    v.page.goto(npm_server.url + "index.html")
    assert v.settled() == "error"
    assert "pyodide.asm.wasm (HTTP 503)" in v.page.inner_text("#error-text")
    assert v.done_stages() == []
    v.page.click("#retry")
    v.page.wait_for_function("document.body.dataset.state === 'booting'")
    assert v.settled() == "error"  # the second worker gets further: up to numpy
    assert v.done_stages() == ["runtime"]
    assert "numpy" in v.page.inner_text("#error-text")
    assert v.page.evaluate("napkin.log.starts") == 2


def test_python_that_never_returns_is_stopped_and_the_worker_restarted(visit, npm_server):
    v = visit()
    v.hold = True  # numpy & co never arrive: Python waits for them, idle
    v.page.goto(npm_server.url + "index.html")
    v.page.wait_for_function("napkin.log.results.hello !== undefined", timeout=60_000)
    assert v.page.evaluate("napkin.run('6 * 7')") == 42
    started = time.perf_counter()
    outcome = v.page.evaluate(
        "napkin.run('while True: pass').then(() => 'finished', (e) => e.message)")
    stopped = time.perf_counter() - started
    print(f"\nendless loop stopped after {stopped:.2f} s (limit {RUNAWAY_SECONDS} s)")
    assert outcome == "The worker was stopped."
    assert RUNAWAY_SECONDS - 0.1 < stopped < RUNAWAY_SECONDS + 10  # the guard, not sooner
    assert v.page.evaluate("[napkin.log.restarts, napkin.log.starts]") == [1, 2]
    # the new worker starts Python again (and would restore the lab from the address)
    v.page.wait_for_function(
        "napkin.log.progress.filter(p => p.stage === 'runtime' && p.done).length === 2",
        timeout=60_000)
    assert v.page.evaluate("napkin.run('1 + 1')") == 2


def test_a_tampered_file_is_refused_with_a_readable_message(visit, npm_server):
    v = visit()

    def tampered(route):
        response = route.fetch()
        route.fulfill(response=response, body=response.body() + b"\n")

    v.context.route(npm_server.url + "packages/pyodide-lock.json", tampered)
    v.page.goto(npm_server.url + "index.html")
    assert v.settled() == "error"
    message = v.page.inner_text("#error-text")
    assert "Integrity check failed" in message and "pyodide-lock.json" in message
    assert v.page.is_visible('[data-view="attention"]')


def test_embed_page_shows_one_view_compactly_with_the_same_boot(visit, npm_server):
    v = visit()
    v.page.goto(npm_server.url + "embed.html#view=tokens")
    v.page.locator('[data-view="tokens"]').wait_for(state="visible", timeout=5_000)
    assert v.page.locator("header").count() == 0
    v.page.wait_for_function("document.body.dataset.state === 'booting'")  # it is in view
    assert v.page.locator("footer #progress").is_visible()
    assert v.settled() == "error" and v.done_stages() == ["runtime"]
    screenshot(v.page, "static-embed-error")


def test_a_chapters_link_shows_its_views_snapshot_first(visit, npm_server):
    from app.tour import CHAPTERS

    v = visit()
    for n in (1, 5, len(CHAPTERS)):
        v.page.goto(npm_server.url + f"embed.html#tour={n}&hide=prompt")
        v.page.locator(f'[data-view="{CHAPTERS[n - 1].view}"]').wait_for(state="visible",
                                                                        timeout=5_000)
        assert v.page.locator("[data-view]:visible").count() == 1


BLOG = """<!doctype html><meta charset="utf-8"><title>A post with three embeds</title>
<h1>A post</h1>
<iframe id="one" src="embed.html#view=attention" style="width:600px;height:450px"></iframe>
<p style="height:1800px">Words, words, words.</p>
<iframe id="two" src="embed.html#view=tokens" style="width:600px;height:450px"></iframe>
<p style="height:1800px">More words.</p>
<iframe id="three" src="embed.html#view=next" sandbox="allow-scripts allow-same-origin"
        style="width:600px;height:450px"></iframe>
"""


def test_a_post_with_three_embeds_boots_one_runtime_at_a_time(npm_site, visit, npm_server):
    (npm_site / "blog.html").write_text(BLOG)
    v = visit()
    v.hold = True  # the first boot waits for its packages until the third has been clicked
    v.page.goto(npm_server.url + "blog.html")
    frames = {name: v.page.frame_locator(f"#{name}") for name in ("one", "two", "three")}
    handles = {name: v.page.locator(f"#{name}").element_handle().content_frame()
               for name in frames}
    for frame in handles.values():
        frame.wait_for_function("window.napkin !== undefined")
    # the one in view starts; the others show their snapshot and a Go live button
    handles["one"].wait_for_function("napkin.log.starts === 1")
    for name, view in (("two", "tokens"), ("three", "next")):
        assert handles[name].evaluate("napkin.log.starts") == 0
        assert frames[name].locator(f'[data-view="{view}"]').is_visible()
        assert frames[name].get_by_role("button", name="▶ Go live").is_visible()
    # a click on the third while the first still boots: it waits, saying so, in its frame
    # (the click is dispatched: scrolling the frame into view would start it anyway)
    handles["one"].wait_for_function("napkin.log.progress.length > 0")
    frames["three"].get_by_role("button", name="▶ Go live").dispatch_event("click")
    handles["three"].wait_for_function("document.body.dataset.state === 'waiting'")
    assert "another Napkin GPT on this page is starting" in frames["three"].locator(
        "#status").inner_text()
    screenshot(v.page, "static-blog-waiting")
    v.release()  # the first boot gets its answer (numpy is not in the npm core) and ends
    # scrolling the second into view starts it too, after the others
    v.page.locator("#two").scroll_into_view_if_needed()
    handles["two"].wait_for_function("napkin.log.starts === 1", timeout=10_000)
    for frame in handles.values():  # each boots as far as the npm core allows: up to numpy
        frame.wait_for_function("document.body.dataset.state === 'error'", timeout=120_000)
        assert "numpy" in frame.locator("#error-text").inner_text()
    turns = sorted(turn for frame in handles.values()
                   for turn in frame.evaluate("napkin.log.turns.map((t) => [t.start, t.end])"))
    assert len(turns) == 3
    for (_, end), (start, _) in itertools.pairwise(turns):
        assert end <= start, f"two runtimes booted at once: {turns}"
    workers = [frame.evaluate("napkin.log.progress.filter((p) => p.stage === 'runtime' "
                              "&& p.done).length") for frame in handles.values()]
    assert workers == [1, 1, 1]


# ---- the lab for real, CPython standing in for Pyodide ------------------------------------


def test_the_lab_draws_from_the_shipped_wheels_and_syncs_both_ways(visit, npm_server, standin):
    v = visit()
    open_with_standin(v, standin, npm_server.url + "index.html#view=next&seed=3")
    v.page.locator("#app").get_by_text("Likeliest next token").first.wait_for(timeout=30_000)
    assert v.page.is_hidden("#snapshot") and v.page.is_visible("#app")
    assert standin.received[:3] == ["boot", "rendered", "location"]
    screenshot(v.page, "static-lab-next")
    # page -> Python: the reader edits the prompt
    box = v.page.locator("textarea").first
    box.fill("To be, or not")
    box.press("Tab")
    deadline = time.monotonic() + 15
    while standin.python("result = bridge.lab.session.prompt") != "To be, or not":
        assert time.monotonic() < deadline, ("the prompt never reached Python",
                                             v.page.evaluate("napkin.log.errors"))
        v.page.wait_for_timeout(200)
    # Python -> page: the lab writes its state into the address
    v.page.wait_for_function("location.hash.includes('prompt=To%20be')", timeout=10_000)
    assert "seed=3" in v.page.evaluate("location.hash")
    # the address -> Python: editing the hash switches the view
    v.page.evaluate("location.hash = '#view=tokens'")
    v.page.locator("#app").get_by_text("tokens, vocabulary of 77").first.wait_for(timeout=15_000)
    assert standin.python("result = bridge.lab.view") == "tokens"
    # every view draws in the page without errors, from local files only
    for key in standin.python("from app.lab.page import VIEWS; result = list(VIEWS)"):
        standin.python(f"bridge.lab.view = {key!r}; result = None")  # one by one, as a reader
        v.page.locator("#app").get_by_text(SHOWN[key]).first.wait_for(timeout=60_000)
    # the last view, drawn: every patch before it was applied (ten views built in turn by
    # CPython in this test's process: a minute and more on a busy machine)
    try:
        v.page.locator("#app").get_by_text("Running: the shipped engine").first.wait_for(
            timeout=120_000)
    except PlaywrightTimeout as e:  # what the page showed instead, for the record
        raise AssertionError((v.page.evaluate("JSON.stringify(napkin.log)")[:3000], v.errors,
                              v.page.locator("#app").inner_text()[:1500])) from e
    assert v.errors == [] and v.page.evaluate("window.__csp") == []
    assert not [p for code, p in npm_server.log if code >= 400]
    assert v.page.evaluate("napkin.log.errors") == []


def lab_on_block_1(visit, url: str, standin) -> Visit:
    """A lab on the stand-in worker, opened at the Attention view of block 1."""
    v = visit()
    open_with_standin(v, standin, url + "index.html#view=attention&layer=1")
    v.page.locator("#app").get_by_text("attends most to").first.wait_for(timeout=30_000)
    return v


def restarted_from_the_address(v: Visit, standin, notice: str) -> None:
    """The page restarted once and the new lab, saying `notice`, came back from the address
    (the view and the layer), not from scratch."""
    assert v.settled(90_000) == "ready"
    v.page.locator("#app").get_by_text(notice).first.wait_for(timeout=30_000)
    assert standin.python("result = [bridge.lab.view, bridge.lab.session.layer]") == [
        "attention", 1]
    assert v.page.evaluate("napkin.log.restarts") == 1


def test_a_stuck_patch_restarts_the_lab_from_the_address_with_a_notice(visit, npm_server, standin):
    v = lab_on_block_1(visit, npm_server.url, standin)
    # Python that takes longer than the limit whenever the prompt changes
    standin.python("import time\n"
                   "bridge.lab.session.param.watch(lambda e: time.sleep(5), 'prompt')\n"
                   "result = None")
    box = v.page.locator("textarea").first
    box.fill("Stuck")
    started = time.perf_counter()
    box.press("Tab")
    v.page.wait_for_function("napkin.log.restarts === 1", timeout=15_000)
    elapsed = time.perf_counter() - started
    assert RUNAWAY_SECONDS - 0.2 < elapsed < RUNAWAY_SECONDS + 6
    restarted_from_the_address(
        v, standin, f"Your code ran for more than {RUNAWAY_SECONDS:g} s and was stopped")
    screenshot(v.page, "static-restarted")


def test_a_patch_the_page_cannot_apply_restarts_the_lab_from_the_address(visit, npm_server,
                                                                         standin):
    v = lab_on_block_1(visit, npm_server.url, standin)
    # another page of the site is booting (it holds the turn) when the restart comes
    v.page.evaluate("""() => { navigator.locks.request('napkin-gpt:boot', () =>
        new Promise((release) => { window.releaseTurn = release; })); }""")
    # Python sends a change to a model the page was never sent
    standin.python("bridge._send_patch({'events': [{'kind': 'ModelChanged', 'model': "
                   "{'id': 'p-never-sent'}, 'attr': 'visible', 'new': False}]}, None)\n"
                   "result = None")
    v.page.wait_for_function("napkin.log.restarts === 1", timeout=15_000)
    # restarting, not "ready", from the first moment: waiting its turn is part of booting
    assert v.page.evaluate("document.body.dataset.state") in ("booting", "waiting")
    v.page.evaluate("window.releaseTurn()")
    assert "p-never-sent" in v.page.evaluate("napkin.log.unapplied.join(' ')")
    restarted_from_the_address(v, standin, "The page and Python fell out of step")
    assert v.page.evaluate("napkin.log.errors") == []
