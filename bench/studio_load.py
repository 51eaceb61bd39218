"""Load check of `compose studio`: many generate requests at once from several clients.

    python bench/studio_load.py [--clients 4] [--requests 5] [--bars 8] [--style folk]

Starts the studio on a free loopback port with a fresh takes folder, then each client
thread posts its requests at once (clients x requests in all) and polls them to the end.
Checks and prints: every request was accepted (202) or refused cleanly (429, queue full;
never a 5xx), every accepted job ended done, every take a done job reported is in the takes
list and its MIDI parses with the note count the list gives, the server kept serving, and
its memory (RSS) before and after.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def call(url: str, method: str = "GET", body: dict | None = None) -> tuple[int, dict | bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=5, help="requests per client, posted at once")
    ap.add_argument("--bars", type=int, default=8)
    ap.add_argument("--style", default="folk")
    args = ap.parse_args()
    import mido

    takes_dir = tempfile.mkdtemp(prefix="studio-load-")
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "studio", "--no-browser", "--takes", takes_dir],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        base = proc.stdout.readline().split()[2].rstrip("/")
        time.sleep(0.5)
        before = rss_mb(proc.pid)
        posts: list[int] = []  # the answer to every POST
        ends: list[dict] = []  # the last state of every accepted job
        lock = threading.Lock()

        def client(c: int) -> None:
            accepted = []
            for r in range(args.requests):
                status, body = call(f"{base}/api/jobs", "POST", {"action": "generate", "params": {
                    "style": args.style, "bars": args.bars, "seed": c * 100 + r}})
                with lock:
                    posts.append(status)
                if status == 202:
                    accepted.append(body["id"])
            for job_id in accepted:
                while True:
                    status, body = call(f"{base}/api/jobs/{job_id}")
                    if status != 200 or body["status"] in ("done", "failed", "cancelled"):
                        with lock:
                            ends.append(body if status == 200 else {"status": f"HTTP {status}"})
                        break
                    time.sleep(0.2)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0
        codes: dict[int, int] = {}
        for code in posts:
            codes[code] = codes.get(code, 0) + 1
        done = [b for b in ends if b["status"] == "done"]
        status, listing = call(f"{base}/api/takes")
        kept = {t["id"]: t for t in listing["takes"]}
        reported = [t["id"] if isinstance(t, dict) else t for b in done for t in b.get("takes", [])]
        missing = [t for t in reported if t not in kept]
        bad_midi = 0
        for take_id in reported:
            status, raw = call(f"{base}/api/takes/{take_id}/midi")
            try:
                mido.MidiFile(file=io.BytesIO(raw))
            except Exception:
                bad_midi += 1
        alive = call(f"{base}/api/model")[0] == 200
        after = rss_mb(proc.pid)
        print(f"{args.clients} clients x {args.requests} requests of {args.bars} bars of {args.style}, "
              f"in {seconds:.1f} s")
        print(f"answers to the posts: {dict(sorted(codes.items()))} (202 accepted, 429 queue full)")
        print(f"accepted jobs ended: {len(done)} done, {len(ends) - len(done)} not done")
        print(f"takes reported {len(reported)}, in the list {len(reported) - len(missing)}, MIDI unreadable {bad_midi}")
        print(f"server still serving: {alive}; RSS {before:.0f} MB before, {after:.0f} MB after")
        ok = alive and not missing and not bad_midi and len(done) == len(ends) and set(codes) <= {202, 429}
        print("RESULT:", "PASS" if ok else "FAIL")
        sys.exit(0 if ok else 1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
