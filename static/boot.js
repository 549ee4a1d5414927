/* boot.js: the page side of the static lab.
 *
 * Shows the snapshot of the view in the address, starts the Python worker (worker.js,
 * checked against its integrity hash and run from a blob: URL), then loads BokehJS and
 * Panel's JS (after the worker, so they do not slow Python down), draws what the worker
 * renders and relays changes both ways, as Panel's own `panel convert` page does.
 *
 * The guard: every message sent to a running worker must be answered by "idle" within
 * config.timeouts.runawayMs, and an idle worker is pinged now and then. A worker that stays
 * silent (Python in an endless loop) is terminated and a fresh one restores the lab from
 * the address, with a notice saying why. No lab logic lives here: the lab is Python.
 *
 * A second visit starts faster: once the lab is ready, a second, short-lived worker saves
 * this site's Python with the lab's modules imported (a memory snapshot, kept in the
 * browser's Cache Storage) and the next boot restores it (worker.js). napkin.log.snapshot
 * says what happened to it.
 *
 * One boot at a time: the pages of one site (tabs, and the embeds of one blog post) take
 * turns through a Web Lock, held from the worker's start until the lab is ready or has
 * failed, so three embeds never boot three Pythons at once. An embed starts when it is
 * scrolled into view or clicked, and shows its snapshot until then.
 */
"use strict";
(() => {
  const config = JSON.parse(document.getElementById("napkin-config").textContent);
  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $("status"), bar: $("progress"), stages: $("stages"), error: $("error"),
    errorText: $("error-text"), retry: $("retry"), snapshot: $("snapshot"), app: $("app"),
    live: $("go-live"),
  };
  const BOOT_LOCK = "napkin-gpt:boot";
  const absolute = (url) => new URL(url, document.baseURI).href;
  const megabytes = (n) => `${(n / 1e6).toFixed(1)} MB`;
  const log = { progress: [], results: {}, errors: [], starts: 0, restarts: 0, timings: null,
                turns: [], refused: [],  // refused: what a Content Security Policy refused
                unapplied: [],  // why patches from Python could not be applied (then restarted)
                snapshot: { key: null, restored: null, notes: [] },  // see worker.js
                patches: 0, painted: 0 };  // patches from Python received; applied and painted
  let current = null;  // the running worker and everything tied to it
  let scripts = null;  // BokehJS and Panel, loaded once
  let drawn = null;    // Bokeh's views of the lab on the page (they outlive a worker)
  // The reader's language, before Python starts: the address's lang= (one the lab lacks:
  // English), else the browser's first the lab speaks, else English (app/i18n).
  const asked = new URLSearchParams(location.hash.slice(1)).get("lang");
  const spoken = (tag) => Object.hasOwn(config.words, tag) ? tag : null;
  const lang = asked !== null ? spoken(asked) ?? "en"
    : (navigator.languages ?? [navigator.language]).map((t) => spoken(t.split("-")[0]))
      .find(Boolean) ?? "en";
  const words = config.words[lang];
  const say = (key, values = {}) => words.messages[key].replace(
    /\{(\w+)(:[^}]*)?\}/g, (all, name) => (name in values ? String(values[name]) : all));
  document.documentElement.lang = lang === "zh" ? "zh-Hans" : lang;
  for (const el of document.querySelectorAll("[data-words]")) {
    const text = words.shell[el.dataset.words];
    if (el.dataset.wordsAttr) el.setAttribute(el.dataset.wordsAttr, text);
    else el.textContent = text;
  }
  for (const item of ui.stages.children) item.firstChild.nodeValue = words.stages[item.dataset.stage];
  for (const el of document.querySelectorAll("[data-lang]")) el.hidden = el.dataset.lang !== lang;
  document.addEventListener("securitypolicyviolation",
                            (e) => log.refused.push(`${e.blockedURI} (${e.effectiveDirective})`));

  function showSnapshot() {
    const link = new URLSearchParams(location.hash.slice(1));
    const view = config.tourViews?.[Number(link.get("tour")) - 1] ?? link.get("view");
    const all = [...ui.snapshot.querySelectorAll("[data-view]")];
    const chosen = all.find((el) => el.dataset.view === view) ?? all.find((el) => !el.hidden);
    for (const el of all) el.hidden = el !== chosen;
  }

  function setState(state, text) {
    document.body.dataset.state = state;
    if (text !== undefined) ui.status.textContent = text;
  }

  function showError(message) {
    if (current) endTurn(current);
    ui.errorText.textContent = message;
    ui.error.hidden = false;
    setState("error", say("stopped"));
  }

  // ---- the worker's life --------------------------------------------------------------

  async function createWorker() {
    const url = absolute("worker.js");
    let response;
    try {
      response = await fetch(url, { integrity: config.integrity["worker.js"] });
    } catch (error) {
      throw new Error(`Could not load ${url} (download error or failed integrity check).`);
    }
    return new Worker(URL.createObjectURL(await response.blob()));
  }

  function workerConfig(notice) {
    const map = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [absolute(k), v]));
    return {
      base: document.baseURI, pyodide: absolute(config.pyodide), lock: absolute(config.lock),
      packageBase: absolute(config.packageBase), packages: config.packages,
      files: map(config.files), integrity: map(config.integrity), sizes: map(config.sizes),
      stages: Object.fromEntries(config.stages.map((s) => [s.id, s.bytes])),
      entry: config.entry,
      session: { ...config.session, state: location.hash, notice, language: lang },
      snapshot: config.snapshot, snapshotModule: absolute(config.snapshotModule),
      snapshotImports: config.snapshotImports, snapshotFile: config.snapshotFile,
    };
  }

  async function start(notice = "") {
    stop();
    const run = current = { worker: null, jsdoc: null, rendering: null, pending: 0, queue: [],
                            applying: 0, guard: 0, heartbeat: 0, stall: 0, runs: new Map(),
                            release: null, abort: new AbortController(), strict: true };
    log.starts++;
    ui.error.hidden = true;
    ui.app.inert = true;
    if (ui.live) ui.live.hidden = true;
    // booting from now on, not once the turn comes: a restart must not read "ready" meanwhile
    setState("booting", say(notice ? "restarting" : "starting"));
    await takeTurn(run);
    if (run !== current) return;
    setState("booting", say(notice ? "restarting" : "starting"));  // after "waiting"
    let worker;
    try {
      worker = await createWorker();
    } catch (error) {
      if (run === current) showError(error.message);
      return;
    }
    if (run !== current) { worker.terminate(); return; }
    run.worker = worker;
    worker.onmessage = (event) => { if (run === current) onMessage(run, event.data); };
    worker.onerror = (event) => {
      event.preventDefault();
      if (run === current) crashed(run, event.message);
    };
    worker.postMessage({ type: "boot", config: workerConfig(notice) });
    watchStall(run);
    loadScripts();
  }

  // Wait until no other page of this site is booting (where the browser has Web Locks:
  // https and localhost), saying so; the turn ends with endTurn.
  async function takeTurn(run) {
    if (!navigator.locks) return;
    const turn = new Promise((begin) => {
      navigator.locks.request(BOOT_LOCK, { signal: run.abort.signal }, () => {
        begin();
        return new Promise((release) => { run.release = release; });
      }).catch(() => begin());  // aborted: the run was stopped while it waited
    });
    const waiting = setTimeout(() => {
      if (run === current) setState("waiting", say("waiting"));
    }, 100);
    await turn;
    clearTimeout(waiting);
    log.turns.push({ start: performance.timeOrigin + performance.now() });
  }

  function endTurn(run) {
    run.abort.abort();
    run.release?.();
    run.release = null;
    const last = log.turns.at(-1);
    if (last && last.end === undefined) last.end = performance.timeOrigin + performance.now();
  }

  function stop() {
    if (!current) return;
    const run = current;
    current = null;
    endTurn(run);
    for (const timer of [run.guard, run.stall]) clearTimeout(timer);
    clearInterval(run.heartbeat);
    for (const pending of run.runs.values()) pending.reject(new Error("The worker was stopped."));
    run.worker?.terminate();
  }

  function crashed(run, reason) {
    if (document.body.dataset.state !== "ready") {
      stop();
      // A worker whose script the browser refuses fails without a reason: say the likely one.
      return showError(reason ? say("workerFailed", { reason }) : say("workerRefused") +
        (log.refused.length ? ` Refused: ${log.refused.join(", ")}.` : ""));
    }
    log.restarts++;
    start(say("crashed", { reason: reason || say("unknown") }));
  }

  // During boot the worker reports progress; if it goes quiet for too long, say so.
  function watchStall(run) {
    clearTimeout(run.stall);
    run.stall = setTimeout(() => {
      if (run !== current) return;
      stop();
      showError(say("stalled", { seconds: config.timeouts.stallMs / 1000 }));
    }, config.timeouts.stallMs);
  }

  // ---- the guard ----------------------------------------------------------------------

  function send(run, message) {
    if (run.pending++ === 0) arm(run);
    run.worker.postMessage(message);
  }

  // Strict (the reader's code may run: the Code view, or an edited engine in use), the
  // limit is runawayMs; otherwise the lab's own work (the quantized model on a slow phone)
  // gets the longer stuckMs before the page gives up on the worker.
  function arm(run) {
    clearTimeout(run.guard);
    const strict = run.strict;
    run.guard = setTimeout(() => {
      if (run !== current) return;
      log.restarts++;
      start(say(strict ? "runaway" : "stuck"));
    }, strict ? config.timeouts.runawayMs : config.timeouts.stuckMs);
  }

  function onIdle(run, message) {
    run.strict = message.strict ?? true;
    run.pending = Math.max(0, run.pending - 1);
    if (run.pending) arm(run); else clearTimeout(run.guard);
    if (!run.pending && run.queue.length) flushChanges(run);
  }

  // ---- page <-> Python ----------------------------------------------------------------

  // A change made on the page. While Python is busy, changes wait; a newer value of the
  // same property replaces an older one (a slider dragged across sends its last value).
  function onChange(run, event) {
    if (run !== current || run.applying || event.setter_id === "py") return;
    if (event.model && event.attr) {
      run.queue = run.queue.filter((e) => !(e.model === event.model && e.attr === event.attr));
    }
    run.queue.push(event);
    if (!run.pending) flushChanges(run);
  }

  function flushChanges(run) {
    const events = run.queue;
    run.queue = [];
    send(run, { type: "patch", payload: run.jsdoc.create_json_patch(events) });
  }

  function applyPatch(run, message) {
    if (run !== current) return;
    run.applying++;
    try {
      run.jsdoc.apply_json_patch(message.patch, message.buffers);
    } catch (error) {
      // the page and Python no longer hold the same document (a patch names a model the
      // page was never sent): a lab drawn from half a patch would go blank or lie, so it
      // starts again from the address, as after a stuck worker
      log.unapplied.push(String(error?.message ?? error));
      log.restarts++;
      start(say("outOfStep"));
      return;
    } finally {
      run.applying--;
    }
    // painted (or 100 ms on, in a tab the browser does not paint): the worker may send the
    // next patch (it holds Python's changes until then, and sends them as one)
    let told = false;
    const tell = () => {
      if (!told && run === current) {
        log.painted++;
        run.worker.postMessage({ type: "drawn" });
      }
      told = true;
    };
    requestAnimationFrame(() => setTimeout(tell, 0));
    setTimeout(tell, 100);
  }

  function loadScripts() {
    scripts ??= Promise.all(config.scripts.map((src) => new Promise((resolve, reject) => {
      const script = document.createElement("script");
      Object.assign(script, { src, integrity: config.integrity[src], async: false });
      script.onload = resolve;
      script.onerror = () => reject(
        new Error(`Could not load ${src} (download error or failed integrity check).`));
      document.head.append(script);
    })));
    return scripts;
  }

  async function render(run, message) {
    await loadScripts();
    const items = JSON.parse(message.render_items);
    const root = document.createElement("div");
    root.id = "napkin-root";
    const roots = JSON.parse(message.root_ids).map((id, i) => {
      const el = i === 0 ? root : document.createElement("div");
      el.id ||= `napkin-root-${i}`;
      return [id, el];
    });
    for (const view of drawn?.roots.values() ?? []) view.remove();
    ui.app.replaceChildren(...roots.map(([, el]) => el));
    items[0].roots = Object.fromEntries(roots.map(([id, el]) => [id, el.id]));
    const [views] = await Bokeh.embed.embed_items(JSON.parse(message.docs_json), items);
    drawn = views;
    if (run !== current) return;
    run.jsdoc = [...views.roots.values()][0].model.document;
    run.jsdoc.on_change((event) => onChange(run, event), false);
    send(run, { type: "rendered" });
    send(run, { type: "location", payload: JSON.stringify(location) });
    ui.snapshot.hidden = true;
    ui.app.hidden = false;
    ui.app.inert = false;
  }

  function onProgress(run, message) {
    log.progress.push(message);
    watchStall(run);
    const stage = config.stages.find((s) => s.id === message.stage);
    const item = [...ui.stages.children].find((el) => el.dataset.stage === message.stage);
    if (!stage || !item) return;
    item.dataset.state = message.done ? "done" : "active";
    item.querySelector(".bytes").textContent = message.total ? megabytes(message.loaded) : "";
    const part = message.done ? 1 : message.total ? message.loaded / message.total : 0;
    ui.bar.value = (config.stages.indexOf(stage) + part) / config.stages.length;
    const label = words.stages[stage.id];
    const amount = { stage: label, loaded: megabytes(message.loaded),
                     total: megabytes(message.total) };
    ui.status.textContent = message.done ? say("stageDone", { stage: label })
      : message.total ? say("stageAmount", amount) : `${label}…`;
  }

  function onMessage(run, message) {
    switch (message.type) {
      case "progress":
        onProgress(run, message);
        break;
      case "result":
        log.results[message.id] = message.value;
        run.runs.get(message.id)?.resolve(message.value);
        run.runs.delete(message.id);
        break;
      case "render":
        run.rendering = render(run, message).catch((error) => {
          stop();
          showError(say("drawFailed", { error: error.message }));
        });
        break;
      case "patch":  // Python's changes wait until the page has drawn the lab
        log.patches++;
        run.rendering?.then(() => applyPatch(run, message));
        break;
      case "idle":
        onIdle(run, message);
        break;
      case "ready":
        clearTimeout(run.stall);
        log.timings = message.timings;
        log.snapshot.restored = Boolean(message.snapshot?.restored);
        run.rendering.then(() => {
          if (run !== current) return;
          endTurn(run);
          setState("ready", say("ready"));
          if (message.snapshot?.take) takeSnapshot();
          run.heartbeat = setInterval(() => { if (!run.pending) send(run, { type: "ping" }); },
                                      config.timeouts.heartbeatMs);
        });
        break;
      case "snapshot":
        noteSnapshot(message);
        break;
      case "refused":  // by a Content Security Policy, in the worker
        log.refused.push(message.what);
        break;
      case "crashed":  // Python itself is broken (a fatal error in the runtime)
        crashed(run, message.message);
        break;
      case "error":
        log.errors.push(message.message);
        if (message.fatal) { stop(); showError(message.message); }
        run.runs.get(message.id)?.reject(new Error(message.message));
        run.runs.delete(message.id);
        break;
      default:
        console.warn("napkin: unknown message from the worker", message);
    }
  }

  function noteSnapshot(message) {
    if (message.key) log.snapshot.key = message.key;
    if (message.text) {
      log.snapshot.notes.push(message.text);
      console.info("napkin: snapshot:", message.text);
    }
  }

  // For the next visit: a second, short-lived worker boots the same Python, imports the
  // lab's modules and saves the memory (worker.js), while this one serves the reader. One
  // page of the site at a time (a Web Lock; the embeds of a blog post boot together).
  function takeSnapshot() {
    if (navigator.deviceMemory && navigator.deviceMemory < 4) {
      return noteSnapshot({ text: "no snapshot taken: this device has little memory" });
    }
    log.snapshot.taking = true;
    const take = async () => {
      const worker = await createWorker().catch(() => null);
      if (!worker) return;
      await new Promise((done) => {
        const end = (text) => {
          if (text) noteSnapshot({ text });
          worker.terminate();
          done();
        };
        worker.onmessage = ({ data }) => {
          if (data.type === "snapshot") noteSnapshot(data);
          if (data.type === "idle") end();
        };
        worker.onerror = (event) => {
          event.preventDefault();
          end(`no snapshot taken: ${event.message}`);
        };
        worker.postMessage({ type: "snapshot", config: workerConfig("") });
      });
    };
    const locked = navigator.locks?.request("napkin-gpt:snapshot", { ifAvailable: true },
      (lock) => (lock ? take() : noteSnapshot({ text: "another page is taking the snapshot" })));
    (locked ?? take())
      .catch((error) => noteSnapshot({ text: `no snapshot taken: ${error.message}` }))
      .finally(() => { log.snapshot.taking = false; });
  }

  // Python code run in the worker, under the same guard (tests and the console use it).
  function runPython(code) {
    const run = current;
    if (!run?.worker) return Promise.reject(new Error("No Python worker is running."));
    const id = `run-${log.starts}-${run.runs.size + 1}-${performance.now()}`;
    return new Promise((resolve, reject) => {
      run.runs.set(id, { resolve, reject });
      send(run, { type: "run", id, code });
    });
  }

  // An embed goes live when half of its frame is in view, or on a click; a page, at once.
  function startWhenSeen() {
    if (!ui.live) return start();
    const once = () => {
      seen.disconnect();
      if (!log.starts) start();
    };
    const halfInView = (e) => e.isIntersecting && e.intersectionRect.height >=
      Math.min(innerHeight, e.boundingClientRect.height) / 2;
    const seen = new IntersectionObserver((entries) => { if (entries.some(halfInView)) once(); },
                                          { threshold: [...Array(21).keys()].map((i) => i / 20) });
    seen.observe(document.body);
    ui.live.addEventListener("click", once);
    setState("asleep", say("embed"));
  }

  ui.retry.addEventListener("click", () => start());
  window.addEventListener("hashchange", () => { if (!current?.jsdoc) showSnapshot(); });
  // `link`: the page's side of the link to Python now (messages unanswered, changes waiting)
  window.napkin = {
    log, run: runPython, restart: start,
    get link() { return { pending: current?.pending, queued: current?.queue.length }; },
  };
  showSnapshot();
  startWhenSeen();
})();
