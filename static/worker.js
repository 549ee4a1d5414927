/* worker.js: Python for the static lab, in a Web Worker (Pyodide).
 *
 * One async boot sequence in four stages, each reported with the bytes it downloads:
 * runtime (Pyodide), packages (the wheels in the site's pyodide-lock.json), model (weights
 * and training text, written into Pyodide's file system) and first render (Python builds
 * the lab and returns Bokeh's JSON). Then it relays messages between the page and Python's
 * WorkerBridge (app/site/worker_bridge.py); the lab's logic is all Python.
 *
 * When a memory snapshot of this site's Python is at hand (an earlier visit's, or the
 * site's own), the runtime stage restores it instead, with the packages installed and the
 * lab's modules imported; anything wrong with it gives the fresh boot above. After a fresh
 * boot the page starts a second worker that takes the snapshot for the next visit
 * ({type: "snapshot"}, see `snapshots` below).
 *
 * page -> worker  {type: "boot", config} once, then "rendered" | "patch" | "location" |
 *                 "ping" | "run"; each of these is answered by {type: "idle"} when done;
 *                 and {type: "drawn"} (no answer) for each patch the page has painted.
 *                 Or, to a worker of its own, {type: "snapshot", config}, answered by "idle".
 * worker -> page  {type: "progress", stage, loaded, total, done?, ms?}  {type: "result", id, value}
 *                 {type: "render", docs_json, render_items, root_ids}  {type: "patch", patch, buffers}
 *                 {type: "ready", timings, snapshot: {restored, take}}  {type: "idle", strict}
 *                 {type: "snapshot", key?, text?} (for napkin.log.snapshot)
 *                 {type: "error", message, fatal, id?}
 *                 {type: "crashed", message} (the runtime failed for good: the page restarts it)
 *                 {type: "refused", what} (a Content Security Policy refused something here)
 */
"use strict";

let cfg = null;     // the page's config; every URL in it is absolute (a blob: worker has no base)
let py = null;      // the Pyodide API, once the runtime stage is done
let bridge = null;  // app.site.worker_bridge.WorkerBridge (a PyProxy), once the lab is rendered
let stage = "runtime";
const stats = {};   // stage -> {loaded, total, started, shown, ms}
const post = (message, transfer = []) => self.postMessage(message, transfer);

function progress(owner = stage, force = false) {
  const s = stats[owner];
  const now = performance.now();
  if (owner !== stage || (!force && now - s.shown < 50)) return;
  s.shown = now;
  post({ type: "progress", stage, loaded: s.loaded, total: Math.max(s.total, s.loaded) });
}

async function during(name, work) {
  stage = name;
  const s = stats[name];
  s.started = performance.now();
  progress(name, true);
  let value;
  try {
    value = await Promise.race([fatal, work()]);
  } finally {
    progress(name, true);  // where the stage stopped, also when it failed
  }
  s.ms = Math.round(performance.now() - s.started);
  post({ type: "progress", stage, loaded: s.loaded, total: Math.max(s.total, s.loaded), done: true,
         ms: s.ms });
  return value;
}

/* Every fetch in this worker passes here (Pyodide's own ones too: it is installed before
 * Pyodide loads). It (1) checks Subresource Integrity for the files the page pinned and for
 * Pyodide's packages (Pyodide passes the lock file's sha256 as `integrity`), and (2) counts
 * the bytes of the stage each file belongs to. Where WebCrypto exists (https, localhost)
 * the body is counted as it streams, then checked before anyone sees it; elsewhere native
 * integrity is used. The packages and the model's files are requested at once, while the
 * runtime still boots (`prefetch`); their stages then find them downloaded.
 * A failed pinned download also rejects `fatal`: Pyodide only logs some failures (a
 * missing wasm leaves loadPyodide waiting for ever), so every stage races against it. */
const realFetch = self.fetch.bind(self);
let failBoot;
let failedDownload = null;  // what failBoot was given
const fatal = new Promise((_, reject) => {
  failBoot = (error) => { failedDownload ??= error; reject(error); return error; };
});
fatal.catch(() => {});
const ALGORITHMS = { sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512" };
const early = new Map();  // url -> the download prefetch started, taken by the first fetch

function download(url, init, owner) {
  const pinned = url in cfg.integrity && !init.optional;  // optional: its failure is not fatal
  const pin = cfg.integrity[url] || init.integrity;
  const verifyHere = Boolean(pin && self.crypto && crypto.subtle);
  init = { ...init };
  delete init.optional;
  if (verifyHere) delete init.integrity; else if (pin) init.integrity = pin;
  const fail = (error) => { if (pinned) failBoot(error); return error; };
  return (async () => {
    let response;
    try {
      response = await realFetch(url, init);
    } catch (error) {
      throw fail(await explainFailure(url, init, error));
    }
    if (pinned && !response.ok) {
      throw fail(new Error(`Could not download ${url} (HTTP ${response.status}).`));
    }
    const s = stats[owner];
    if (!(url in cfg.sizes)) s.total += Number(response.headers.get("content-length")) || 0;
    const meta = { status: response.status, statusText: response.statusText,
                   headers: response.headers };
    const chunks = [];
    const reader = response.body?.getReader();
    for (let part = await reader?.read(); part && !part.done; part = await reader.read()) {
      chunks.push(part.value);
      s.loaded += part.value.byteLength;
      progress(owner);
    }
    const body = await new Blob(chunks).arrayBuffer();
    if (verifyHere && response.ok) {
      try { await checkDigest(url, body, pin); } catch (error) { throw fail(error); }
    }
    return { body, meta, checked: verifyHere ? pin : null };
  })();
}

self.fetch = async (input, init = {}) => {
  const url = new URL(input instanceof Request ? input.url : String(input), cfg.base).href;
  const started = early.get(url);
  early.delete(url);
  const got = await (started ?? download(url, init, stage));
  if (init.integrity && got.checked !== init.integrity && got.meta.status === 200 &&
      self.crypto?.subtle) {
    await checkDigest(url, got.body, init.integrity);  // Pyodide's pin of a prefetched wheel
  }
  return new Response(got.body, got.meta);
};

// Request the packages' wheels and the model's files now, each counted in its own stage,
// with Pyodide's sha256 for the wheels, taken from the pinned lock file. A boot restored
// from a snapshot needs no wheel (`packages` is then empty), one that takes a snapshot no
// model (`files` false). Returns the lock file.
async function prefetch(packages = cfg.packages, files = true) {
  // Registered before it is awaited: Pyodide asks for the lock file while it boots, and
  // asking before this download had ended used to download (and count) it twice.
  const pending = download(cfg.lock, {}, "runtime");
  early.set(cfg.lock, pending);  // for Pyodide's own request
  const fetched = await pending;
  if (fetched.meta.status !== 200) return null;  // a pinned file: the download has failed the boot
  const lock = JSON.parse(new TextDecoder().decode(fetched.body));
  for (const name of packages) {
    const entry = lock.packages[name];
    const url = new URL(entry.file_name, cfg.packageBase).href;
    const sha256 = btoa(String.fromCharCode(...entry.sha256.match(/../g).map((h) => parseInt(h, 16))));
    early.set(url, download(url, { integrity: `sha256-${sha256}` }, "packages"));
  }
  if (files) for (const url of Object.keys(cfg.files)) early.set(url, download(url, {}, "model"));
  for (const pending of early.values()) pending.catch(() => {});  // reported when taken
  return lock;
}

async function checkDigest(url, body, pin) {
  const [algorithm, expected] = pin.trim().split(/\s+/)[0].split(/-(.*)/s);
  if (!ALGORITHMS[algorithm]) {
    throw new Error(`Unsupported integrity algorithm ${algorithm} for ${url}.`);
  }
  const digest = new Uint8Array(await crypto.subtle.digest(ALGORITHMS[algorithm], body));
  const actual = btoa(String.fromCharCode(...digest));
  if (actual !== expected) {
    throw new Error(`Integrity check failed for ${url}: expected ${algorithm}-${expected} but the ` +
                    `file has ${algorithm}-${actual}. The file was refused.`);
  }
}

async function explainFailure(url, init, error) {
  if (init.integrity) {
    // With native integrity a wrong hash and a network error look alike: ask again unpinned.
    try {
      const again = await realFetch(url, { cache: "no-store" });
      return new Error(again.ok
        ? `Integrity check failed for ${url}: the file differs from its pinned hash, so it was refused.`
        : `Could not download ${url} (HTTP ${again.status}).`);
    } catch (_) { /* the network error below says it */ }
  }
  return new Error(`Could not download ${url}: ${error.message}.`);
}

// A script fetched through the checks above, then run as a classic script from a blob: URL.
async function importChecked(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`Could not download ${url} (HTTP ${response.status}).`);
  const blobUrl = URL.createObjectURL(new Blob([await response.text()], { type: "text/javascript" }));
  try {
    importScripts(blobUrl);
  } catch (error) {
    if (error.name !== "NetworkError") throw error;  // a script from a blob: does not fail to download
    throw new Error(`The browser refused to run ${url} from a blob: URL. ` +
                    "A Content Security Policy that does not allow blob: in script-src does " +
                    "this; the site's host must allow it.");
  } finally {
    URL.revokeObjectURL(blobUrl);
  }
}

async function loadRuntime() {
  await importChecked(cfg.pyodide + "pyodide.js");
  await importChecked(cfg.pyodide + "pyodide.asm.js");  // so loadPyodide need not load it again
}

// Python started, fresh or from a snapshot (`extra`: pyodide_snapshot.js's options).
async function startRuntime(extra = {}) {
  py = await loadPyodide({
    indexURL: cfg.pyodide, lockFileURL: cfg.lock, packageBaseUrl: cfg.packageBase,
    stdout: (line) => console.log("[python]", line), stderr: (line) => console.warn("[python]", line),
    ...extra,
  });
}

function sayHello() {
  const hello = py.runPython("import json, sys, pyodide; json.dumps(" +
                             "{'python': sys.version.split()[0], 'pyodide': pyodide.__version__})");
  post({ type: "result", id: "hello", value: JSON.parse(hello) });
}

async function installPackages() {
  const loader = [];
  await py.loadPackage(cfg.packages,
                       { messageCallback: () => {}, errorCallback: (text) => loader.push(text) });
  // loadPackage resolves even when a download failed: check every package can be imported.
  const importable = py.runPython(
    "import importlib.util as u; lambda name: u.find_spec(name) is not None");
  const missing = cfg.packages.filter((name) => py.loadedPackages[name] === undefined ||
    !py.lockfile.packages[name].imports.every((module) => importable(module)));
  importable.destroy();
  if (missing.length) {
    const said = loader.length ? `\n\nThe loader said:\n${loader.join("\n")}` : "";
    throw new Error(`These Python packages could not be loaded: ${missing.join(", ")}. ` +
                    `The lab needs them all.${said}`);
  }
}

async function loadFiles() {
  for (const [url, path] of Object.entries(cfg.files)) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`Could not download ${url} (HTTP ${response.status}).`);
    py.FS.mkdirTree(path.slice(0, path.lastIndexOf("/")));
    py.FS.writeFile(path, new Uint8Array(await response.arrayBuffer()));
  }
}

async function firstRender() {
  bridge = py.pyimport(cfg.entry).WorkerBridge(sendPatch);
  py.globals.set("bridge", bridge);  // for napkin.run (the console, tests): bridge.lab
  const page = await bridge.render.callKwargs(cfg.session);
  const { timings, ...render } = page.toJs({ dict_converter: Object.fromEntries });
  page.destroy();
  stats.render.parts = JSON.parse(timings);
  post({ type: "render", ...render });
}

// Python -> page. One long-lived function: Panel keeps the one it is given. The page says
// "drawn" once it has applied a patch and painted. Python sends the next patch only then
// (pageCaughtUp), and training draws a new picture only when the page is ready for one
// (pageReady), so a fast clock never buries the page under patches.
const STALE_MS = 1000;  // a page that stopped answering this long does not stop Python
let inFlight = 0;
let sentAt = 0;
let waiters = [];
function sendPatch(patch, buffers) {
  inFlight++;
  sentAt = performance.now();
  post({ type: "patch", patch, buffers }, buffers ? [...buffers.values()] : []);
}

function drawn() {
  inFlight = Math.max(0, inFlight - 1);
  if (!inFlight) for (const resolve of waiters.splice(0)) resolve();
}

self.pageReady = () => !inFlight || performance.now() - sentAt > STALE_MS;

self.pageCaughtUp = () => new Promise((resolve) => {
  if (self.pageReady()) return resolve();
  waiters.push(resolve);
  setTimeout(resolve, STALE_MS);
});

function resetStats() {
  for (const [name, total] of Object.entries(cfg.stages)) {
    stats[name] = { loaded: 0, total, started: 0, shown: 0 };
  }
}

async function boot(config) {
  cfg = config;
  const started = performance.now();
  resetStats();
  const saved = await snapshots.open();
  if (saved) {
    try {
      return ready(started, await bootRestored(saved));
    } catch (error) {
      if (error === failedDownload) throw error;  // the network, not the snapshot
      const what = error.reading ? "reading" : "restoring";
      await snapshots.discard(saved, `${what} it failed (${error.message ?? error})`);
      resetStats();
      py = bridge = null;  // abandoned: a fresh interpreter follows
    }
  }
  const early = prefetch();
  await during("runtime", async () => {
    await Promise.all([early, loadRuntime().then(() => startRuntime())]);
    sayHello();
  });
  await during("packages", installPackages);
  await during("model", loadFiles);
  await during("render", firstRender);
  ready(started, { restored: false, take: Boolean(cfg.snapshot) && snapshots.available });
}

// The interpreter of an earlier visit, restored with its imports done; its site-packages
// come with it, so the packages stage downloads nothing.
async function bootRestored(saved) {
  const early = prefetch([]);
  let bytes;
  await during("runtime", async () => {
    const lap = laps(stats.runtime.parts = {});
    await Promise.all([early, loadRuntime(), importChecked(cfg.snapshotModule)]);
    lap("load scripts");
    // read from the cache and inflated while Pyodide downloads and compiles its own files
    const parsed = saved.bytes.then((b) => pyodideSnapshot.parse(bytes = b, saved.key));
    pyodideSnapshot.preload(parsed.then(pyodideSnapshot.extensionsSaved));
    await Promise.all([parsed, startRuntime(pyodideSnapshot.restoringOptions(parsed))]);
    lap("read and restore");
    pyodideSnapshot.afterRestore(py, await parsed);
    lap("write files");
    checkRestored();
    sayHello();
    lap("check");
  });
  await during("packages", async () => {});
  await during("model", loadFiles);
  await during("render", firstRender);
  snapshots.note(`restored the snapshot (${bytes.length} bytes, from the ${saved.from})`);
  return { restored: true, take: false };
}

// Milliseconds since the last call, by name, into `parts`.
function laps(parts) {
  let last = performance.now();
  return (name) => {
    const now = performance.now();
    parts[name] = Math.round(now - last);
    last = now;
  };
}

// numpy's first calls after a restore, against plain Python: a compiled extension whose
// memory or function slots did not line up fails here, before the lab depends on it.
function checkRestored() {
  const scope = py.globals.get("dict")();
  const ok = py.runPython(`
import numpy as np
a = np.arange(12.0).reshape(3, 4)
(a @ np.ones(4)).tolist() == [sum(row) for row in a.tolist()] and \\
    abs(float(np.linalg.norm(a)) - sum(x * x for x in range(12)) ** 0.5) < 1e-9`,
                          { globals: scope });
  scope.destroy();
  if (ok !== true) throw new Error("numpy computed wrong results");
}

function ready(started, snapshot) {
  const timings = Object.fromEntries(Object.entries(stats).map(
    ([name, s]) => [name, { ms: s.ms, bytes: s.loaded, ...(s.parts && { parts: s.parts }) }]));
  post({ type: "ready", snapshot,
         timings: { ...timings, total_ms: Math.round(performance.now() - started) } });
}

// ---- snapshots: Python with the lab's modules imported, restored (pyodide_snapshot.js) ----

/* A snapshot comes from the browser's Cache Storage, where the first visit left it, or else
 * from the site itself (`napkin-gpt build --snapshot`). Either is keyed by the hash of every
 * pinned file (the Pyodide runtime, the lock file that pins each wheel, ours included, and
 * our scripts), so a new build never restores an old one's memory; the Cache Storage holds
 * one entry, that of the build in use. Whatever goes wrong (no Cache Storage on plain http,
 * a quota error, an entry damaged or of another build, a restore that fails) is said in
 * the page's log (napkin.log.snapshot), a bad entry is deleted, and Python starts afresh. */
const snapshots = {
  CACHE: "napkin-gpt-snapshots",
  available: Boolean(self.caches && self.crypto?.subtle && self.CompressionStream),
  note: (text) => post({ type: "snapshot", text }),

  // Hex SHA-256 of the pins' values (not their URLs: the build computes the same key for
  // the site's own snapshot, see app/site/memory_snapshot.py), the packages and imports.
  async key() {
    const shipped = cfg.snapshotFile && new URL(cfg.snapshotFile, cfg.base).href;
    const pins = Object.entries(cfg.integrity).filter(([url]) => url !== shipped)
      .map(([, pin]) => pin).sort();
    const text = JSON.stringify([pins, cfg.packages, cfg.snapshotImports]);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  },

  // {key, url, from, bytes: a promise of the bundle} or null; entries of other builds
  // are deleted on the way.
  async open() {
    if (!cfg.snapshot) return null;
    if (!this.available) {
      this.note("no snapshots here: this browser has no Cache Storage on this origin");
      return null;
    }
    let key;
    try {
      key = await this.key();
      const url = new URL(`napkin-snapshot/${key}`, cfg.base).href;
      post({ type: "snapshot", key: url });
      const cache = await caches.open(this.CACHE);
      for (const request of await cache.keys()) {
        if (request.url !== url) {
          await cache.delete(request);
          this.note(`deleted the snapshot of another build (${request.url})`);
        }
      }
      const response = await cache.match(url);
      let saved = null;
      if (response) saved = { key, url, from: "cache", bytes: this.read(response) };
      else if (cfg.snapshotFile) {
        const file = new URL(cfg.snapshotFile, cfg.base).href;
        const bytes = fetch(file, { optional: true }).then((r) => this.read(r), (error) =>
          Promise.reject(Object.assign(error, { reading: true })));
        saved = { key, url: file, from: "site", bytes };
      }
      saved?.bytes.catch(() => {});  // reported where it is awaited
      return saved;
    } catch (error) {
      this.note(`snapshots are unavailable: ${error.message}`);
      return null;
    }
  },

  // The bundle in a response: gzipped, unless the host already undid that.
  async read(response) {
    try {
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
      const inflated = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      return new Uint8Array(await new Response(inflated).arrayBuffer());
    } catch (error) {
      throw Object.assign(new Error(error.message), { reading: true });
    }
  },

  async discard(saved, why) {
    if (saved.from === "site") {
      this.note(`the site's snapshot was not used: ${why}; Python started afresh`);
      return;
    }
    try {
      await (await caches.open(this.CACHE)).delete(saved.url);
      this.note(`deleted the snapshot: ${why}; Python started afresh`);
    } catch (error) {
      this.note(`could not delete the snapshot (${error.message}) after: ${why}`);
    }
  },

  // In a worker of its own, after the lab is ready: the same packages from the same files,
  // the lab's modules imported, then the memory saved.
  async take(config) {
    cfg = config;
    resetStats();
    const started = performance.now();
    const key = await this.key();
    const url = new URL(`napkin-snapshot/${key}`, cfg.base).href;
    if (await (await caches.open(this.CACHE)).match(url)) {
      this.note("another page has saved the snapshot");
      return;
    }
    const lock = await prefetch(cfg.packages, false);
    const compiled = cfg.packages.filter(
      (name) => !lock.packages[name].file_name.endsWith("-none-any.whl"));
    const wheels = await Promise.all(compiled.map(async (name) => new Uint8Array(
      await (await fetch(new URL(lock.packages[name].file_name, cfg.packageBase).href)).arrayBuffer())));
    await Promise.all([loadRuntime(), importChecked(cfg.snapshotModule)]);
    const extensions = await pyodideSnapshot.extensionsOf(wheels);
    pyodideSnapshot.preload(extensions);
    await startRuntime(pyodideSnapshot.takingOptions());
    await installPackages();
    py.runPython(cfg.snapshotImports.map((name) => `import ${name}`).join("\n"));
    const bundle = pyodideSnapshot.take(py, { key, extensions });
    const zipped = new Blob([bundle]).stream().pipeThrough(new CompressionStream("gzip"));
    const blob = await new Response(zipped).blob();
    await (await caches.open(this.CACHE)).put(url, new Response(blob));
    this.note(`saved a snapshot: ${bundle.length} bytes, ${blob.size} gzipped, in ` +
              `${Math.round(performance.now() - started)} ms`);
  },
};

async function runPython(message) {
  if (!py) throw new Error("Python has not started yet.");
  // Code without `await` runs at once: runPythonAsync would wait its turn on the event loop
  // behind every tick of a playing animation.
  const value = /\bawait\b/.test(message.code) ? await py.runPythonAsync(message.code)
    : py.runPython(message.code);
  post({ type: "result", id: message.id, value: value?.toJs ? String(value) : value });
  value?.destroy?.();
}

self.addEventListener("securitypolicyviolation",
                      (e) => post({ type: "refused", what: `${e.blockedURI} (${e.effectiveDirective})` }));

// Whatever escapes the sequence above still reaches the page.
self.addEventListener("unhandledrejection", (event) => {
  const reason = event.reason?.message ?? event.reason;
  post({ type: "error", fatal: true, message: `Unexpected error during ${stage}: ${reason}` });
});

self.onmessage = async ({ data: message }) => {
  if (message.type === "drawn") return drawn();  // not a request: no "idle" for it
  try {
    switch (message.type) {
      case "boot":
        await boot(message.config);
        break;
      case "snapshot":
        await snapshots.take(message.config).catch((error) => snapshots.note(
          `no snapshot taken: ${error.message ?? error}`));
        break;
      case "rendered":
      case "location":
      case "patch":
        bridge.handle(message.type, message.payload ?? null);
        break;
      case "ping":
        break;
      case "run":
        await runPython(message);
        break;
      default:
        throw new Error(`Unknown message type ${message.type}.`);
    }
  } catch (error) {
    const text = String(error?.message ?? error);
    if (error?.pyodide_fatal_error) post({ type: "crashed", message: text });  // Python is dead
    post({ type: "error", fatal: message.type === "boot", id: message.id, message: text });
  } finally {
    // strict: the reader's code may run next (see boot.js's guard)
    if (message.type !== "boot") post({ type: "idle", strict: bridge ? bridge.strict() : true });
  }
};
