"""Measures the figures the README gives for `compose studio`, and takes docs/studio.png.

    python docs/studio_measure.py [--runs 3] [--screenshot docs/studio.png]

Starts `compose studio` (the bundled model, a temporary takes folder) as a user would, drives
the page in headless Chromium (Playwright), and prints:
- page weight: bytes the page loads (scripts, style sheet, page; then the sound font), as sent
  (gzip) and as used;
- click to first sound for 16 bars of jazz: Generate clicked -> take drawn (the generation),
  Play clicked -> the synthesizer's first note-on, and both together;
- the server's resident memory (VmRSS) with the model loaded, and after the generations.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--screenshot", default=None)
    args = ap.parse_args()
    takes = tempfile.mkdtemp(prefix="studio-takes-")
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "studio", "--no-browser", "--takes", takes],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        url = proc.stdout.readline().split()[2]
        time.sleep(0.5)
        print(f"server RSS, model loaded: {rss_mb(proc.pid):.0f} MB")
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium)
            page = browser.new_page(viewport={"width": 1400, "height": 860}, bypass_csp=True)  # to evaluate JS
            sizes = {}

            def record(response):
                s = response.request.sizes()
                sizes[response.url.replace(url, "/")] = (s["responseBodySize"], len(response.body()))
            page.on("requestfinished", lambda r: record(r.response()))
            page.goto(url)
            page.wait_for_function("window.studio && window.studio.ready && window.studio.synthReady", timeout=60_000)
            page.wait_for_timeout(500)
            # the AudioWorklet's script is fetched by the worklet, out of the page's sight
            worklet = "/static/vendor/spessasynth_lib/spessasynth_processor.min.js"
            req = urllib.request.Request(url + worklet.lstrip("/"), headers={"Accept-Encoding": "gzip"})
            sent = urllib.request.urlopen(req).read()
            sizes[worklet] = (len(sent), len(gzip.decompress(sent)))
            font = {k: v for k, v in sizes.items() if k.endswith(".sf2")}
            rest = {k: v for k, v in sizes.items() if not k.endswith(".sf2")}
            for k, (sent, used) in sorted(sizes.items()):
                print(f"  {k:<60} {sent / 1024:8.0f} KB sent {used / 1024:8.0f} KB")
            print(f"page weight without the sound font: {sum(v[0] for v in rest.values()) / 1024:.0f} KB sent, "
                  f"{sum(v[1] for v in rest.values()) / 1024:.0f} KB used; sound font "
                  f"{sum(v[0] for v in font.values()) / 1024:.0f} KB sent")
            page.select_option("#style", "jazz")
            page.fill("#bars", "16")
            gen, sound = [], []
            for run in range(args.runs):
                page.fill("#seed", str(run))
                t0 = time.perf_counter()
                page.click("#generate")  # "play the take when it is ready" is on
                page.wait_for_function("window.studio.notesDrawn > 0 && !window.studio.state.job && "
                                       f"window.studio.state.take.settings.seed === {run}", timeout=300_000)
                gen.append(time.perf_counter() - t0)
                page.wait_for_function("window.studio.firstSoundMs !== null", timeout=30_000)
                sound.append(page.evaluate("window.studio.firstSoundMs") / 1000)  # from the click
                if run == args.runs - 1 and args.screenshot:
                    page.wait_for_timeout(3500)
                    # select bars 5-8 and the first track, as for an action
                    x = page.evaluate("(i) => window.studio.state.roll.bars[i] * window.studio.state.layout.pps + 6", 4)
                    page.click("#roll", position={"x": x, "y": 8})
                    x = page.evaluate("(i) => window.studio.state.roll.bars[i] * window.studio.state.layout.pps + 6", 7)
                    page.click("#roll", position={"x": x, "y": 8}, modifiers=["Shift"])
                    page.click("#tracks tr >> nth=0 >> input")
                    page.screenshot(path=args.screenshot)
                page.click("#stop")
                page.wait_for_timeout(300)
                print(f"run {run}: click -> take drawn {gen[-1]:.2f} s, click -> first note-on {sound[-1]:.2f} s")
            print(f"16 bars of jazz, click on Generate to first sound: median {statistics.median(sound):.2f} s "
                  f"(of which generation and drawing {statistics.median(gen):.2f} s)")
            # Play on a take already made: click -> the synthesizer's first note-on
            lat = []
            for _ in range(args.runs):
                page.click("#play")
                page.wait_for_function("window.studio.firstSoundMs !== null", timeout=30_000)
                lat.append(page.evaluate("window.studio.firstSoundMs"))
                page.click("#stop")
                page.wait_for_timeout(200)
            print(f"Play -> first note-on: median {statistics.median(lat):.0f} ms")
            print(f"server RSS after {args.runs} generations: {rss_mb(proc.pid):.0f} MB")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(takes, ignore_errors=True)


if __name__ == "__main__":
    main()
