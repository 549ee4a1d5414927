/* pyodide_snapshot.js: Python restored from a memory snapshot instead of started anew.
 *
 * Pyodide can write out its WebAssembly memory (`makeMemorySnapshot`, given the option
 * `_makeSnapshot`) and start from such bytes (`_loadSnapshot`). Out of the box that works
 * for an interpreter without compiled packages and without references to JavaScript objects
 * it cannot name. Everything the lab needs beyond that touches Pyodide's internals, so it is
 * all here, written against Pyodide PYODIDE_VERSION (tests/app/test_pyodide_snapshot.py
 * fails on another; Pyodide's issues #6418, #5195 and PR #4720, and Cloudflare workerd's
 * src/pyodide/internal/snapshot.ts, describe the same limits):
 *
 * 1. Compiled extensions (numpy's, nh3, markupsafe, yaml) sit at addresses in the memory
 *    and own slots in the function table, which is not in the memory. Both runs, the one
 *    that takes the snapshot and the one that restores it, instantiate every extension in
 *    one order before Python starts (a preRun hook: Module.newDSO and
 *    Module.loadWebAssemblyModule), so addresses and slots match; Python's own dlopen
 *    later finds each one loaded.
 * 2. Taking it: every JavaScript object Python still refers to must be named. Pyodide names
 *    the globals by their path; here freed slots become null and plain functions (Panel's
 *    `_dict_converter`) are kept by their source. `loadedPackages` is emptied: the
 *    restoring run has its own.
 * 3. Restoring it: the dlopen handles go back in Module.LDSO.loadedLibsByHandle, `random`
 *    is seeded anew (each reader gets their own), and the files of site-packages, which the
 *    memory does not hold, are written back.
 *
 * A bundle is one byte array: MAGIC, a little-endian u32 with the length of a JSON header,
 * the header, the files' bytes one after another, then Pyodide's own snapshot. The header:
 * {format, pyodide, buildId, key, extensions (paths, in load order), handles, files, memory}.
 */
"use strict";

self.pyodideSnapshot = (() => {
  const PYODIDE_VERSION = "0.29.3";
  // Pyodide's own text for each internal used below, by the file that holds it:
  // tests/app/test_pyodide_snapshot.py finds every one in the release the site ships.
  const INTERNALS = {
    "pyodide.asm.js": [
      'Module["LDSO"]=LDSO', 'Module["newDSO"]=newDSO',  // 1.
      'Module["loadWebAssemblyModule"]=loadWebAssemblyModule',
      "newDSO=(name,handle,syms)=>{var dso={refcount:Infinity,name,exports:syms,global:true};",
      "var getMemory=size=>{if(runtimeInitialized){return _calloc(size,1)}var ret=___heap_base;",
      "function preRun(){if(Module[\"preRun\"]){",
      "static makeMemorySnapshot({serializer:e}={})",  // 2.
      "API.getExpectedKeys=function(){return[null,API.config.jsglobals,API.public_api,API,Ue,API,{}",
      'var __hiwire_get=Module["__hiwire_get"]', "loadedPackages={}",
      // the Proxy round the globals: a getter runs with the Proxy as `this`
      "get(r,n,o){if(n===xr)return e;if(n===Pr)return r;let i=Reflect.get(...arguments)",
      "function Ar(t,e,r){let n=API.getExpectedKeys();",  // 3.
      "LDSO.loadedLibsByHandle[handle]=dso",
    ],
    "pyodide.js": [
      "async function Ce(e,t){if(!e._loadSnapshot)return;",
      "i.finalizeBootstrap(a,n._snapshotDeserializer)",
      "typeof _createPyodideModule!=\"function\"", "let t=await _createPyodideModule(e);",
    ],
  };
  const FORMAT = 1;
  const MAGIC = new TextEncoder().encode("NAPKSNAP");
  const SITE = "/lib/python3.13/site-packages/";

  /** The members of a zip file (a wheel) whose names pass `wanted`, inflated. */
  async function unzip(bytes, wanted) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let end = bytes.length - 22;
    while (end >= 0 && view.getUint32(end, true) !== 0x06054b50) end--;
    if (end < 0) throw new Error("not a zip file");
    const count = view.getUint16(end + 10, true);
    let at = view.getUint32(end + 16, true);
    const found = [];
    const decoder = new TextDecoder();
    for (let i = 0; i < count; i++) {
      if (view.getUint32(at, true) !== 0x02014b50) throw new Error("damaged zip directory");
      const method = view.getUint16(at + 10, true);
      const size = view.getUint32(at + 20, true);
      const nameLength = view.getUint16(at + 28, true);
      const skip = nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
      const local = view.getUint32(at + 42, true);
      const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
      at += 46 + skip;
      if (!wanted(name)) continue;
      const start = local + 30 + view.getUint16(local + 26, true) +
        view.getUint16(local + 28, true);
      const data = bytes.subarray(start, start + size);
      found.push({ name, bytes: method === 0 ? data : await inflate(data) });
    }
    return found;
  }

  async function inflate(data) {
    const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  /** Every compiled extension in these wheels: [{path, module}], in the order to load. */
  async function extensionsOf(wheels) {
    const found = [];
    for (const wheel of wheels) found.push(...await unzip(wheel, (n) => n.endsWith(".so")));
    found.sort((a, b) => (a.name < b.name ? -1 : 1));
    return compile(found.map(({ name, bytes }) => ({ path: SITE + name, bytes })));
  }

  /** The extensions a parsed bundle was taken with, in their order, ready for preload. */
  function extensionsSaved(parsed) {
    const byPath = new Map(parsed.files.map((f) => [f.path, f.bytes]));
    return compile(parsed.header.extensions.map((path) => ({ path, bytes: byPath.get(path) })));
  }

  function compile(found) {
    return Promise.all(found.map(async ({ path, bytes }) => {
      if (!bytes) throw new Error(`the snapshot lacks ${path}`);
      return { path, module: await WebAssembly.compile(bytes) };
    }));
  }

  /** Instantiate `extensions` (or what a promise of them gives) before Python starts, in
   * the next loadPyodide (see 1.). */
  function preload(extensions) {
    const create = self._createPyodideModule;
    Promise.resolve(extensions).catch(() => {});  // a failed restore says why elsewhere
    self._createPyodideModule = async (settings) => {
      self._createPyodideModule = create;
      try {
        extensions = await extensions;  // loadPyodide has started its downloads meanwhile
      } catch {
        return create(settings);  // the restore has failed: a fresh start needs none
      }
      settings.preRun.push((Module) => {
        for (const { path, module } of extensions) {
          const dso = Module.newDSO(path, undefined, "loading");
          dso.refcount = Infinity;
          dso.global = false;
          dso.exports = Module.loadWebAssemblyModule(module, {}, path, {});
        }
      });
      return create(settings);
    };
  }

  /** loadPyodide's options for the run that takes a snapshot. Pyodide then wraps the
   * globals in a Proxy that records the path to each object Python takes from them; its
   * getters would run with that Proxy as `this` ("Illegal invocation" for
   * crossOriginIsolated, which pyodide_http imports), so they get the real scope. */
  function takingOptions() {
    const globals = new Proxy(self, { get: (scope, name) => Reflect.get(scope, name) });
    return { _makeSnapshot: true, jsglobals: globals };
  }

  /** The bundle of `py` as it is now (see 2.): its memory, its site-packages, and what a
   * restore needs to know. `extensions` are those given to preload. `py` is done with
   * afterwards (its loadedPackages are emptied): the run that takes a snapshot ends. */
  function take(py, { key, extensions }) {
    const Module = py._module;
    if (py.version !== PYODIDE_VERSION) {
      throw new Error(`written for Pyodide ${PYODIDE_VERSION}, not ${py.version}`);
    }
    for (const name of Object.keys(py.loadedPackages)) delete py.loadedPackages[name];
    const handles = {};
    for (const [handle, dso] of Object.entries(Module.LDSO.loadedLibsByHandle)) {
      if (Number(handle)) (handles[dso.name] ??= []).push(Number(handle));
    }
    // not the bytecode of modules already imported: the memory holds them, compiled
    const cached = py.runPython("import sys; [m.__cached__ for m in list(sys.modules.values()) " +
                                "if isinstance(getattr(m, '__cached__', None), str)]");
    const imported = new Set(cached.toJs());
    cached.destroy();
    const files = [];
    const walk = (dir) => {
      for (const name of Module.FS.readdir(dir)) {
        if (name === "." || name === "..") continue;
        const path = dir + name;
        const stat = Module.FS.stat(path);
        if (Module.FS.isDir(stat.mode)) walk(path + "/");
        else if (!imported.has(path)) files.push({ path, bytes: Module.FS.readFile(path) });
      }
    };
    walk(SITE);
    const get = Module.__hiwire_get;
    Module.__hiwire_get = (i) => get(i) ?? null;  // a freed slot holds undefined
    let memory;
    try {
      memory = py.makeMemorySnapshot({ serializer: nameObject });
    } finally {
      Module.__hiwire_get = get;
    }
    const header = {
      format: FORMAT, pyodide: py.version, buildId: py._api.config.BUILD_ID, key,
      extensions: extensions.map((e) => e.path), handles,
      files: files.map((f) => [f.path, f.bytes.length]), memory: memory.length,
    };
    return pack(header, [...files.map((f) => f.bytes), memory]);
  }

  function nameObject(value) {
    if (typeof value === "function" && !/\{\s*\[native code\]\s*\}$/.test(String(value))) {
      return { source: String(value) };
    }
    const what = Object.prototype.toString.call(value);
    throw new Error(`Python holds a JavaScript object that cannot be saved: ${what}`);
  }

  function unnameObject(serialized) {
    if (typeof serialized?.source !== "string") throw new Error("unknown object in the snapshot");
    return (0, eval)(`(${serialized.source})`);
  }

  function pack(header, parts) {
    const text = JSON.stringify(header);
    const before = MAGIC.length + 4 + new TextEncoder().encode(text).length +
      parts.slice(0, -1).reduce((n, p) => n + p.length, 0);
    // spaces after the JSON, so that the memory (the last part) starts at a multiple of 16:
    // Pyodide reads it through a Uint32Array
    const json = new TextEncoder().encode(text + " ".repeat((16 - (before % 16)) % 16));
    const size = MAGIC.length + 4 + json.length + parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(size);
    out.set(MAGIC);
    new DataView(out.buffer).setUint32(MAGIC.length, json.length, true);
    let at = MAGIC.length + 4;
    for (const part of [json, ...parts]) { out.set(part, at); at += part.length; }
    return out;
  }

  /** The header, files and memory of a bundle; throws unless it is whole and is one this
   * Pyodide and this `key` can restore. */
  function parse(bundle, key) {
    if (bundle.length < MAGIC.length + 4 || MAGIC.some((b, i) => bundle[i] !== b)) {
      throw new Error("not a snapshot bundle");
    }
    const length = new DataView(bundle.buffer, bundle.byteOffset).getUint32(MAGIC.length, true);
    let at = MAGIC.length + 4 + length;
    const header = JSON.parse(new TextDecoder().decode(bundle.subarray(MAGIC.length + 4, at)));
    if (header.format !== FORMAT || header.pyodide !== PYODIDE_VERSION || header.key !== key) {
      throw new Error(`made by another build (format ${header.format}, Pyodide ${header.pyodide})`);
    }
    const files = header.files.map(([path, size]) => {
      const bytes = bundle.subarray(at, at + size);
      at += size;
      return { path, bytes };
    });
    if (at + header.memory !== bundle.length) {
      throw new Error("the snapshot is cut short or too long");
    }
    return { header, files, memory: bundle.subarray(at) };
  }

  /** loadPyodide's options to restore `parsed` (from parse, or a promise of it); call
   * preload first with extensionsSaved(parsed). */
  function restoringOptions(parsed) {
    const memory = Promise.resolve(parsed).then((p) => p.memory);
    memory.catch(() => {});  // loadPyodide reports it
    return { _loadSnapshot: memory, _snapshotDeserializer: unnameObject };
  }

  /** After loadPyodide restored `parsed`: handles, files, a fresh seed (see 3.). */
  function afterRestore(py, parsed) {
    const Module = py._module;
    for (const [name, handles] of Object.entries(parsed.header.handles)) {
      const dso = Module.LDSO.loadedLibsByName[name];
      if (!dso) throw new Error(`the snapshot needs ${name}, which is not loaded`);
      for (const handle of handles) Module.LDSO.loadedLibsByHandle[handle] = dso;
    }
    for (const { path, bytes } of parsed.files) {
      Module.FS.mkdirTree(path.slice(0, path.lastIndexOf("/")));
      Module.FS.writeFile(path, bytes);  // a copy: the bundle itself can then go
    }
    py.runPython("import random; random.seed()");
  }

  return { PYODIDE_VERSION, INTERNALS, unzip, extensionsOf, extensionsSaved, preload,
           takingOptions, take, pack, parse, restoringOptions, afterRestore };
})();
