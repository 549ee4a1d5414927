/* take_snapshot.js: the site's Python saved with the lab's modules imported, in Node, from
 * the very files the site ships; `napkin-gpt build --snapshot` runs it (memory_snapshot.py).
 *
 *     node take_snapshot.js SITE_DIR OUT_FILE KEY IMPORTS_JSON
 *
 * The same steps as a reader's browser takes (static/worker.js, snapshots.take), with the
 * same module for Pyodide's internals (SITE_DIR/pyodide_snapshot.js): every compiled
 * extension instantiated before Python starts, the packages of the site's lock file
 * installed, the modules imported, the bundle written gzipped.
 */
"use strict";

const fs = require("fs");
const path = require("path");
const zlib = require("zlib");

const [site, out, key, imports] = process.argv.slice(2);
globalThis.self = globalThis;
// Python takes these from the globals while importing (pyodide_http); Node lacks them. A
// snapshot keeps only their names and a restore looks them up in the reader's worker.
globalThis.XMLHttpRequest ??= class XMLHttpRequest {};
globalThis.crossOriginIsolated ??= false;
require(path.join(site, "pyodide_snapshot.js"));
require(path.join(site, "pyodide", "pyodide.asm.js"));
const { loadPyodide } = require(path.join(site, "pyodide", "pyodide.js"));

async function main() {
  const snapshot = self.pyodideSnapshot;
  const packages = path.join(site, "packages");
  const lock = JSON.parse(fs.readFileSync(path.join(packages, "pyodide-lock.json"), "utf8"));
  const names = Object.keys(lock.packages).sort();
  const wheels = names.filter((name) => !lock.packages[name].file_name.endsWith("-none-any.whl"))
    .map((name) => new Uint8Array(fs.readFileSync(path.join(packages, lock.packages[name].file_name))));
  const extensions = await snapshot.extensionsOf(wheels);
  snapshot.preload(extensions);
  const py = await loadPyodide({
    indexURL: path.join(site, "pyodide") + "/", lockFileURL: path.join(packages, "pyodide-lock.json"),
    packageBaseUrl: packages + "/", stdout: () => {}, ...snapshot.takingOptions(),
  });
  await py.loadPackage(names, { messageCallback: () => {} });
  py.runPython(JSON.parse(imports).map((name) => `import ${name}`).join("\n"));
  const bundle = snapshot.take(py, { key, extensions });
  fs.writeFileSync(out, zlib.gzipSync(bundle, { level: 9 }));
  console.log(JSON.stringify({ bytes: bundle.length, gzip: fs.statSync(out).size }));
}

main().then(() => process.exit(0), (error) => {
  console.error(error?.stack ?? String(error));
  process.exit(1);
});
