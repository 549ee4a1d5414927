// Run a Python file of this repository in Pyodide under Node.
//
//     node tests/bench/run_in_pyodide.mjs PYODIDE_DIR REPO SCRIPT [ARGS...]
//
// PYODIDE_DIR is a full Pyodide distribution (core and the numpy wheel). REPO is mounted
// at /repo and put on sys.path, so `import engine` imports the repository's own files.
// SCRIPT (a path inside REPO) runs as __main__ with sys.argv = [SCRIPT, ...ARGS]; its
// output goes to stdout, a Python error to stderr with exit status 1.
import path from "node:path";
import { pathToFileURL } from "node:url";

const [dist, repo, script, ...args] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(path.join(dist, "pyodide.mjs")).href);
const pyodide = await loadPyodide({
  indexURL: path.resolve(dist) + "/",
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
});
await pyodide.loadPackage("numpy", { messageCallback: () => {} });
pyodide.FS.mkdirTree("/repo");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: path.resolve(repo) }, "/repo");
pyodide.globals.set("script_argv", pyodide.toPy([`/repo/${script}`, ...args]));
try {
  pyodide.runPython(`
import runpy, sys
sys.path.insert(0, "/repo")
sys.argv = list(script_argv)
runpy.run_path(sys.argv[0], run_name="__main__")
`);
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
