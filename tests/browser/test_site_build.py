"""`napkin-gpt build`: what the static site holds, pins and ships (no browser needed, but
the build itself is the slow part of the browser room, so it lives here)."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import re
import zipfile

import pytest

from app.site.build import PYODIDE_CDN, RUNTIME_FILES
from tests.support.static_site import (
    COMPILED_NAMES,
    RUNAWAY_SECONDS,
    assert_self_hosted,
    build,
    npm_core,
    page_config,
    sri,
)

# ---- the build -------------------------------------------------------------------------------


def test_the_build_writes_the_site_and_reports_its_payload(npm_site):
    for name in ("index.html", "embed.html", "boot.js", "worker.js", "style.css", "lab.css",
                 "packages/pyodide-lock.json", "data/weights/model.npz",
                 "data/weights/config.json", "data/weights/bpe.json", "data/corpus.txt",
                 "static/js/bokeh.min.js", "static/extensions/panel/panel.min.js"):
        assert (npm_site / name).is_file(), name
    assert not (npm_site / "pyodide").exists()  # the runtime stays on the CDN by default
    manifest = json.loads((npm_site / "build.json").read_text())
    groups = manifest["payload"]["groups"]
    assert set(groups) >= {"our files", "Bokeh/Panel JS", "Pyodide runtime",
                           "packages (pure Python)", "packages (compiled, Pyodide CDN)",
                           "training text"}
    assert groups["Pyodide runtime"]["bytes"] == sum(
        (npm_core() / f).stat().st_size for f in RUNTIME_FILES)
    assert groups["packages (compiled, Pyodide CDN)"]["unknown"] == 4
    ours = sum((npm_site / f).stat().st_size for f in (
        "index.html", "boot.js", "worker.js", "pyodide_snapshot.js", "style.css", "lab.css",
        *(f"data/weights/{n}" for n in ("model.npz", "config.json", "bpe.json")),
        *(p.relative_to(npm_site) for p in (npm_site / "packages").glob("napkin_gpt-*.whl"))))
    assert manifest["payload"]["ours_bytes"] == ours
    print(f"\nour own shipped bytes: {ours:,} (budget 1,500,000); snapshots "
          f"{sum(manifest['snapshot_bytes'].values()):,} bytes")
    assert ours <= 1_500_000


def test_the_worker_gets_exactly_the_package_set_with_pinned_hashes(npm_site):
    lock = json.loads((npm_site / "packages/pyodide-lock.json").read_text())
    stock = json.loads((npm_core() / "pyodide-lock.json").read_text())
    assert lock["info"] == stock["info"]
    packages = lock["packages"]
    assert set(packages) == {
        "napkin-gpt", "bokeh", "panel", "param", "pyviz-comms", "jinja2", "packaging",
        "markdown-it-py", "mdit-py-plugins", "mdurl", "linkify-it-py", "pyodide-http",
        "gguf", "numpy", "pyyaml", "markupsafe", "nh3"}
    assert packages["bokeh"]["version"] == importlib.metadata.version("bokeh")  # = BokehJS
    assert packages["panel"]["version"] == importlib.metadata.version("panel")
    for name in ("numpy", "pyyaml", "markupsafe", "nh3"):  # from the CDN, Pyodide's hashes
        assert packages[name]["file_name"] == PYODIDE_CDN + stock["packages"][name]["file_name"]
        assert packages[name]["sha256"] == stock["packages"][name]["sha256"]
    for name, entry in packages.items():
        if not entry["file_name"].startswith("https://"):
            data = (npm_site / "packages" / entry["file_name"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
    assert not {"pandas", "pillow", "contourpy"} & set(packages)
    assert sorted(packages["napkin-gpt"]["imports"]) == ["app", "engine"]
    assert "pyodide-http" in packages["napkin-gpt"]["depends"]


def test_pages_pin_every_file_and_load_no_script_from_elsewhere(npm_site):
    for page in ("index.html", "embed.html"):
        html = (npm_site / page).read_text()
        config = page_config(html)
        assert config["pyodide"] == PYODIDE_CDN
        for name in RUNTIME_FILES:  # hashes of the npm package's files
            assert config["integrity"][PYODIDE_CDN + name] == sri((npm_core() / name).read_bytes())
        for url, pin in config["integrity"].items():
            if not url.startswith("https://"):
                assert pin == sri((npm_site / url).read_bytes()), url
        for name in ("boot.js", "style.css", "lab.css"):
            assert f'integrity="{sri((npm_site / name).read_bytes())}"' in html
        assert "worker.js" in config["integrity"]
        assert all((npm_site / s).is_file() for s in config["scripts"])
        assert not re.search(r"<script[^>]+src=\"(https?:)?//", html)
        csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
        assert "connect-src 'self' https://cdn.jsdelivr.net;" in csp
        assert "script-src 'self' blob:" in csp and "https://" not in csp.split("connect-src")[0]
        assert config["timeouts"]["runawayMs"] == RUNAWAY_SECONDS * 1000
        assert config["session"]["embed"] == (page == "embed.html")
        assert "codeeditor" in config["session"]["extensions"]


def test_bokeh_and_panel_wheels_are_slimmed_but_keep_what_python_reads(npm_site):
    panel = next((npm_site / "packages").glob("panel-*.whl"))
    bokeh = next((npm_site / "packages").glob("bokeh-*.whl"))
    with zipfile.ZipFile(panel) as p, zipfile.ZipFile(bokeh) as b:
        names = set(p.namelist()) | set(b.namelist())
        assert not [n for n in names if n.startswith(("panel/dist/", "bokeh/server/static/",
                                                      "panel/tests/"))]
        assert not [n for n in names if n.endswith(".ts")]
        for kept in ("panel/package.json", "panel/layout/flexbox.html",
                     "panel/_templates/base.html", "bokeh/core/_templates/file.html.jinja",
                     "bokeh/_sri/3.9.2.json"):
            assert kept in names, kept
        for wheel in (p, b):  # RECORD lists exactly the files left, with their hashes
            record = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
            rows = [line.split(",") for line in wheel.read(record).decode().splitlines()]
            assert {r[0] for r in rows} == set(wheel.namelist())
            for name, digest, _ in rows:
                if digest:
                    data = hashlib.sha256(wheel.read(name)).digest()
                    assert digest == "sha256=" + base64.urlsafe_b64encode(data).rstrip(
                        b"=").decode(), name
    for wheel in (panel, bokeh):
        with zipfile.ZipFile(wheel) as z:
            sources = [i for i in z.infolist() if "__pycache__/" not in i.filename]
            assert sum(i.compress_size for i in sources) < 1_500_000


def test_the_modules_the_lab_imports_ship_compiled_for_pyodide(npm_site):
    """Bytecode for Python 3.13 (Pyodide's), checked against nothing (PEP 552
    unchecked-hash), beside each module the lab imports and no other."""
    from app.site.bytecode import find_python

    with zipfile.ZipFile(next((npm_site / "packages").glob("panel-*.whl"))) as z:
        compiled = {n: z.read(n) for n in z.namelist() if n.endswith(".pyc")}
        sources = {n for n in z.namelist() if n.endswith(".py")}
    if find_python() is None:  # then the build ships sources only, and says so
        assert compiled == {}
        return
    assert "panel/__pycache__/__init__.cpython-313.pyc" in compiled
    assert "panel/io/__pycache__/pyodide.cpython-313.pyc" in compiled
    for name, data in compiled.items():
        assert data[:4] == b"\xf3\r\r\n", name  # the 3.13 magic number
        assert int.from_bytes(data[4:8], "little") == 0b01, name  # hash-based, unchecked
        folder, file = name.split("/__pycache__/")
        assert f"{folder}/{file.removesuffix('.cpython-313.pyc')}.py" in sources
    assert len(compiled) < len(sources)  # only what the lab imports
    with zipfile.ZipFile(next((npm_site / "packages").glob("napkin_gpt-*.whl"))) as z:
        assert [n for n in z.namelist() if n.endswith(".pyc")] == []  # ours: sources only


def test_every_view_has_a_small_snapshot_shown_for_its_link(npm_site):
    from app.lab.page import VIEWS

    html = (npm_site / "index.html").read_text()
    shown = re.findall(r'<section class="napkin view-snapshot" data-view="([^"]+)">', html)
    hidden = re.findall(r'<section class="napkin view-snapshot" data-view="([^"]+)" hidden>',
                        html)
    assert shown == ["attention"] and set(hidden) == set(VIEWS) - {"attention"}
    sizes = json.loads((npm_site / "build.json").read_text())["snapshot_bytes"]
    assert set(sizes) == set(VIEWS) and max(sizes.values()) < 20_000
    attention = html.split('data-view="attention">', 1)[1].split("</section>", 1)[0]
    assert "<svg" in attention and 'class="chip' in attention
    english = attention.split('<div data-lang="es"', 1)[0]  # the same chips in each language
    assert english.count('<span class="piece">') == len("ROMEO:\nBut soft, what light")
    assert re.findall(r'<div data-lang="(\w+)"', attention) == ["en", "es", "zh"]


def test_snapshot_text_is_escaped():
    from app.session.loader import load_session
    from app.site.snapshot import snapshots

    text = '<img src=x onerror="alert(1)"> ' * 10
    html = "".join(snapshots(load_session(corpus=text), {"examples": "<b>Examples</b>",
                                                          "next": "Next"}).values())
    assert "<img" not in html and "<b>" not in html
    assert "&lt;b&gt;" in html and "&lt;img src=x" in html


def test_self_hosting_the_npm_core_fails_naming_the_missing_packages(npm_site, tmp_path):
    done = build(tmp_path / "out", "--self-host", str(npm_core()))
    assert done.returncode == 2
    message = done.stderr
    for name in ("numpy", "pyyaml", "markupsafe", "nh3"):
        assert name in message.split("has no wheel for")[1].split("(")[0], message
    assert "full Pyodide distribution" in message


@pytest.mark.skipif(bool(os.environ.get("NAPKIN_PYODIDE_DIST")), reason=(
    "NAPKIN_PYODIDE_DIST is set: tests/browser/test_pyodide_lab.py checks the same on a build "
    "from the real distribution (this stand-in build would add half a minute)"))
def test_self_hosting_a_full_distribution_vendors_everything(npm_site, tmp_path):
    """A stand-in distribution: the npm core plus four small wheels under the compiled
    packages' file names, with a lock file carrying their sha256."""
    dist = tmp_path / "dist"
    dist.mkdir()
    for name in RUNTIME_FILES:
        (dist / name).symlink_to(npm_core() / name)
    lock = json.loads((npm_core() / "pyodide-lock.json").read_text())
    for name in COMPILED_NAMES:
        entry = lock["packages"][name]
        wheel = dist / entry["file_name"]
        with zipfile.ZipFile(wheel, "w") as z:
            z.writestr(f"{entry['imports'][0]}/__init__.py", f"NAME = {name!r}\n")
        entry["sha256"] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (dist / "pyodide-lock.json").write_text(json.dumps(lock))
    out = tmp_path / "out"
    done = build(out, "--self-host", str(dist))
    assert done.returncode == 0, done.stderr
    assert_self_hosted(out, dist)
