#!/usr/bin/env python3
"""The control page's figures: `python bench/web_page.py [--url URL] [--json]`.

- `page_kb`: kilobytes (1000 B) of HTML + JS + CSS the gateway serves for the page: `/`, the
  stylesheets and scripts it links, and every ES module those import (followed recursively).
- `pseudosection_render_ms`: median time, in the real browser (Debian's chromium through
  Playwright), of `window.ohmpi.pseudosection.render(points)` for 2,000 points: placing each
  quadrupole (mean x, Edwards median depth) and drawing the canvas with its axes and legend;
  `pseudosection_render_ms_max` is the slowest of the runs.

The page sits behind a login: the benchmark logs in through the page's own form first. Without
`--url` the whole system is started (32 electrodes, time scale 0) in a temporary OHMPI_VAR under
supervisord with an administrator of its own (made over the bus, like `ohmpi users add`), and it
is stopped at the end. With `--url`, `--user NAME` and the password in `$OHMPI_PASSWORD` (never on the command
line). `page_metrics(url, user, password)` is the function the web benchmark calls.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.browser import ARGS, CHROMIUM  # noqa: E402 (after ROOT joins sys.path)

RUNS = 9
POINTS = 2000

# 2,000 dipole-dipole-like quadrupoles on a 64-electrode line (a = 1..8, n = 1..8), some flagged,
# ρa log-normal: built in the page so only the render is timed.
MAKE_POINTS = """(count) => {
  const out = [];
  let seed = 42;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let a = 1; a <= 8 && out.length < count; a++)
    for (let n = 1; n <= 8 && out.length < count; n++)
      for (let e = 1; e + a * (n + 2) <= 64 && out.length < count; e++) {
        const rec = {a: e, b: e + a, m: e + a * (n + 1), n: e + a * (n + 2)};
        rec.rhoa_ohmm = Math.exp(Math.log(100) + 1.2 * (rnd() - 0.5) * 2);
        rec.k_m = Math.PI * a * n * (n + 1) * (n + 2);
        rec.r_ohm = rec.rhoa_ohmm / rec.k_m;
        rec.r_std_pct = rnd() * 3; rec.iab_mA = 10 + rnd() * 40; rec.vmn_mV = rec.r_ohm * rec.iab_mA;
        rec.flags = rnd() < 0.05 ? ["high_std"] : [];
        out.push(rec);
      }
  return out;
}"""


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read()


def page_bytes(url: str) -> dict[str, int]:
    """Bytes of every HTML/JS/CSS file of the page, by URL."""
    base = url.rstrip("/") + "/"
    sizes: dict[str, int] = {}
    html = _get(base)
    sizes[base] = len(html)
    todo = [urljoin(base, ref.decode()) for ref in re.findall(rb'(?:src|href)="([^"#]+\.(?:js|css))"', html)]
    while todo:
        target = todo.pop()
        if target in sizes:
            continue
        body = _get(target)
        sizes[target] = len(body)
        if target.endswith(".js"):
            for ref in re.findall(rb'(?:import|from)\s*\(?\s*"(\.{1,2}/[^"]+\.js)"', body):
                todo.append(urljoin(target, ref.decode()))
    return sizes


def render_times(url: str, user: str, password: str, runs: int = RUNS, points: int = POINTS) -> list[float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.set_default_timeout(30_000)
            page.goto(url.rstrip("/") + "/")
            page.wait_for_selector("#login-form:visible")
            page.fill("#login-form input[name=username]", user)
            page.fill("#login-form input[name=password]", password)
            page.click("#login-go")
            page.wait_for_selector("body[data-ready='1']")
            return page.evaluate(f"""(() => {{
                const make = {MAKE_POINTS};
                const times = [];
                for (let i = 0; i < {runs + 1}; i++) {{
                  const pts = make({points});          // fresh records each run: nothing cached
                  times.push(window.ohmpi.pseudosection.render(pts));
                }}
                if (window.ohmpi.pseudosection.count() !== {points}) throw new Error('not all points plotted');
                return times.slice(1);                  // the first run warms the JIT
            }})()""")
        finally:
            browser.close()


def page_metrics(url: str | None = None, user: str | None = None, password: str | None = None) -> dict:
    """page_kb and pseudosection_render_ms (median of several 2,000-point renders)."""
    system = None
    if url is None:
        from tests.support.web import start_web_system

        system = start_web_system(electrodes=32, time_scale=0.0)
        url = system.web_url
    try:
        if system is not None:
            user, password = system.passwords["admin"]
        if not user or password is None:
            raise SystemExit("the page needs a login: --user NAME and the password in $OHMPI_PASSWORD")
        sizes = page_bytes(url)
        times = render_times(url, user, password)
    finally:
        if system is not None:
            system.close()
    return {
        "page_kb": round(sum(sizes.values()) / 1000, 1),
        "page_files": len(sizes),
        "pseudosection_points": POINTS,
        "pseudosection_render_ms": round(statistics.median(times), 2),
        "pseudosection_render_ms_max": round(max(times), 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="a running gateway (default: start the whole system)")
    ap.add_argument("--user", help="log in as this user (with --url; the password in $OHMPI_PASSWORD)")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = ap.parse_args()
    m = page_metrics(args.url, args.user, os.environ.get("OHMPI_PASSWORD"))
    if args.json:
        print(json.dumps(m))
    else:
        print(f"page weight (HTML+JS+CSS, {m['page_files']} files): {m['page_kb']} kB  (limit 300)")
        print(
            f"pseudo-section render, {m['pseudosection_points']} points: median {m['pseudosection_render_ms']} ms,"
            f" max {m['pseudosection_render_ms_max']} ms  (target ≤ 100)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
