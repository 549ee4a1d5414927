"""What a build reports: the bytes a first visit downloads, by where they come from."""

from __future__ import annotations

import gzip
from pathlib import Path

BUDGET = 1_500_000  # bytes of our own: wheel, weights, pages, scripts, snapshot


def payload(site) -> dict:  # site: a build.Site
    """What a first visit downloads, by source: bytes and gzip -9 bytes per group (sizes
    of compiled wheels on the CDN are unknown offline: its lock file has no sizes)."""
    groups: dict[str, dict] = {}
    for url, source in site.sources.items():
        if source == "on demand" or url.endswith("embed.html"):
            continue
        path = site.local(url)
        group = groups.setdefault(source, {"files": 0, "bytes": 0, "gzip": 0, "unknown": 0})
        group["files"] += 1
        if path is None:
            group["unknown"] += 1
            continue
        data = path.read_bytes()
        group["bytes"] += len(data)
        group["gzip"] += len(gzip.compress(data, 9, mtime=0))
    ours = groups.get("our files", {"bytes": 0})["bytes"]
    return {"groups": groups, "ours_bytes": ours, "budget_bytes": BUDGET,
            "within_budget": ours <= BUDGET}


def print_report(manifest: dict, out: Path) -> None:
    p = manifest["payload"]
    print(f"built {out} (Pyodide {manifest['pyodide_version']} from {manifest['pyodide']})")
    print(f"{'cold-load payload by source':40} {'files':>5} {'bytes':>12} {'gzip -9':>12}")
    for source, g in sorted(p["groups"].items()):
        unknown = f"  (+{g['unknown']} of unknown size)" if g["unknown"] else ""
        print(f"  {source:38} {g['files']:5} {g['bytes']:12,} {g['gzip']:12,}{unknown}")
    total = sum(g["bytes"] for g in p["groups"].values())
    total_gz = sum(g["gzip"] for g in p["groups"].values())
    print(f"  {'total':38} {'':5} {total:12,} {total_gz:12,}")
    print(f"our own shipped bytes (wheel, weights, pages, scripts, snapshots): "
          f"{p['ours_bytes']:,} of a {p['budget_bytes']:,} budget"
          f"{'' if p['within_budget'] else '  OVER BUDGET'}")
