"""compose studio's server, through Starlette's test client: generation jobs (progress, Stop,
queueing), the takes folder (list, rename, delete, a restart keeps them), uploads (good and
bad ones), and the checks that keep requests inside the takes folder and on this machine."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from composer.midi_io import midi_bytes, read_midi
from composer.score import Score, Track

pytest.importorskip("httpx2", reason="the test client needs httpx2 (pip install '.[test]')")
TestClient = pytest.importorskip("starlette.testclient").TestClient
studio_app = pytest.importorskip("composer.studio.app")
STATIC, create_app = studio_app.STATIC, studio_app.create_app

ROOT = Path(__file__).resolve().parents[1]
HOSTS = ["testserver"]


@pytest.fixture(scope="module")
def model():
    from composer.generate import load_model
    return load_model()


def client_for(model, folder, **kwargs) -> TestClient:
    return TestClient(create_app(model, folder, allowed_hosts=HOSTS, **kwargs), raise_server_exceptions=False)


@pytest.fixture
def client(model, tmp_path):
    with client_for(model, tmp_path / "takes") as c:
        yield c


def sketch_bytes(bars: int = 2) -> bytes:
    """A small piano sketch (C major arpeggios) as MIDI bytes."""
    notes = [[i * 240, 220, 60 + (0, 4, 7, 12)[i % 4], 90] for i in range(8 * bars)]
    score = Score(tpq=480, tracks=[Track(program=0, name="Sketch", notes=np.array(notes, dtype=np.int64))],
                  tempos=np.array([[0.0, 120.0]]), time_signatures=np.array([[0, 4, 4]]), end=bars * 1920)
    return midi_bytes(score)


def wait(client, job: dict, timeout: float = 120) -> dict:
    end = time.time() + timeout
    while time.time() < end:
        job = client.get(f"/api/jobs/{job['id']}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job still {job['status']} after {timeout} s")


def generate(client, **params) -> dict:
    r = client.post("/api/jobs", json={"action": "generate", "params": params})
    assert r.status_code == 202, r.text
    return r.json()


def upload(client, data: bytes, name: str = "sketch.mid"):
    return client.post(f"/api/upload?name={name}", content=data)


def test_generate_poll_and_download_the_take(client, model):
    job = wait(client, generate(client, style="jazz", bars=2, seed=7))
    assert job["status"] == "done" and job["bars_done"] == job["bars_total"] == 2
    (take,) = job["takes"]
    assert [t["id"] for t in client.get("/api/takes").json()["takes"]] == [take["id"]]
    assert take["settings"]["seed"] == 7 and take["name"] == "jazz · 2 bars · seed 7"

    roll = client.get(f"/api/takes/{take['id']}").json()["roll"]
    assert len(roll["bars"]) == 2 and roll["notes"] == take["notes"] > 0
    assert sum(len(t["notes"]) for t in roll["tracks"]) == roll["notes"]
    drums = [t for t in roll["tracks"] if t["drums"]]
    assert all(t["channel"] == 9 for t in drums)
    assert all(0 <= n[0] <= roll["seconds"] for t in roll["tracks"] for n in t["notes"])

    r = client.get(f"/api/takes/{take['id']}/midi")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/midi"
    assert 'filename="jazz_2_bars_seed_7.mid"' in r.headers["content-disposition"]
    # the job decodes through the progress wrapper: the same piece as the library gives
    score = model.generate(style="jazz", bars=2, seed=7, top_p=0.95)
    assert r.content == midi_bytes(score, title=take["name"])


def test_variations_make_several_takes_at_once(client):
    job = wait(client, generate(client, style="folk", bars=1, seed=2, num_samples=3))
    assert job["status"] == "done" and job["bars_total"] == 3 and len(job["takes"]) == 3
    names = [t["name"] for t in job["takes"]]
    assert names == [f"folk · 1 bar · seed 2 ({i}/3)" for i in (1, 2, 3)]
    files = {client.get(f"/api/takes/{t['id']}/midi").content for t in job["takes"]}
    assert len(files) == 3


def test_jobs_queue_report_progress_and_stop(client):
    long = generate(client, style="jazz", bars=64, seed=1)
    queued = generate(client, style="jazz", bars=1, seed=1)
    assert queued["status"] == "queued" and queued["ahead"] == 1
    end = time.time() + 60
    while (state := client.get(f"/api/jobs/{long['id']}").json())["bars_done"] < 1:
        assert time.time() < end and state["status"] in ("queued", "running")
        time.sleep(0.05)
    assert state["status"] == "running" and 1 <= state["bars_done"] < 64
    assert client.post(f"/api/jobs/{queued['id']}/cancel").json()["status"] == "cancelled"
    client.post(f"/api/jobs/{long['id']}/cancel")
    assert wait(client, long, 30)["status"] == "cancelled"
    assert client.get("/api/takes").json()["takes"] == []  # nothing kept from a stopped job
    # the worker goes on with the next job
    assert wait(client, generate(client, style="jazz", bars=1, seed=1))["status"] == "done"


def test_a_job_that_breaks_fails_in_one_line_and_the_worker_goes_on(model, tmp_path, capfd):
    import copy

    broken = copy.copy(model)

    def boom(**options):
        raise RuntimeError("boom\nsecond line")

    broken.generate_batch = boom
    with client_for(broken, tmp_path / "takes") as c:
        job = wait(c, generate(c, style="jazz", bars=1))
        assert job["status"] == "failed" and job["error"] == "internal error: RuntimeError: boom second line"
        assert c.get("/api/takes").status_code == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and f"job {job['id']} (generate) failed: internal error" in err


def test_a_full_queue_is_429(client, monkeypatch):
    from composer.studio import jobs

    monkeypatch.setattr(jobs, "MAX_WAITING", 2)
    first, second = generate(client, style="jazz", bars=64), generate(client, style="jazz", bars=64)
    r = client.post("/api/jobs", json={"action": "generate", "params": {"bars": 1}})
    assert r.status_code == 429 and "2 jobs are waiting already" in r.json()["error"]
    for job in (second, first):
        client.post(f"/api/jobs/{job['id']}/cancel")
        assert wait(client, job, 30)["status"] == "cancelled"


def test_bad_generation_requests_are_400_with_one_line(client):
    for body in ({"action": "generate", "params": {"bars": 0}},
                 {"action": "generate", "params": {"tempo": "fast"}},
                 {"action": "generate", "params": {"bars": True}},
                 {"action": "generate", "params": {"temperature": "nan"}},
                 {"action": "generate", "params": {"style": "polka"}},
                 {"action": "generate", "params": {"style": "pop", "instruments": ["drums"]}},
                 {"action": "generate", "params": {"instruments": ["kazoo"]}},
                 {"action": "generate", "params": {"time_signature": "13/3"}},
                 {"action": "generate", "params": {"num_samples": 99}},
                 {"action": "generate", "params": []},
                 {"action": "dance"},
                 {"action": "infill", "take": "0123456789ab"},
                 {"action": "continue", "take": "../../etc"}):
        r = client.post("/api/jobs", json=body)
        assert r.status_code in (400, 404), (body, r.text)
        error = r.json()["error"]
        assert "\n" not in error and "Traceback" not in error and error
    assert client.post("/api/jobs", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/api/jobs", content=b"[" * 100_000).status_code == 400  # too large
    assert client.get("/api/jobs/nosuchjob").status_code == 404


def test_upload_continue_rename_delete_and_restart(model, tmp_path):
    folder = tmp_path / "takes"
    with client_for(model, folder) as c:
        r = upload(c, sketch_bytes(2), "My Sketch.mid")
        assert r.status_code == 201, r.text
        sketch = r.json()
        assert sketch["name"] == "My Sketch" and sketch["source"] == "uploaded" and sketch["notes"] == 16
        roll = c.get(f"/api/takes/{sketch['id']}").json()["roll"]
        assert roll["notes"] == 16 and len(roll["bars"]) == 2 and roll["tempo"] == 120

        job = c.post("/api/jobs", json={"action": "continue", "take": sketch["id"],
                                        "params": {"style": "jazz", "bars": 2, "seed": 3}}).json()
        job = wait(c, job)
        assert job["status"] == "done", job
        more = job["takes"][0]
        assert more["name"] == "My Sketch + 2 bars" and more["settings"]["primer"] == sketch["id"]
        cont = read_midi(folder / f"{more['id']}.mid")
        assert cont.note_count > 16 and len(c.get(f"/api/takes/{more['id']}").json()["roll"]["bars"]) == 4

        r = c.patch(f"/api/takes/{sketch['id']}", json={"name": "  the\tsketch\n "})
        assert r.status_code == 200 and r.json()["name"] == "the sketch"
        assert c.patch(f"/api/takes/{sketch['id']}", json={"name": "   "}).status_code == 400
        assert c.patch(f"/api/takes/{sketch['id']}", json={"name": 5}).status_code == 400
        assert c.delete(f"/api/takes/{more['id']}").status_code == 204
        assert c.delete(f"/api/takes/{more['id']}").status_code == 404
        assert not (folder / f"{more['id']}.mid").exists()

    with client_for(model, folder) as c:  # a restart: the takes and their names are there
        assert [(t["id"], t["name"]) for t in c.get("/api/takes").json()["takes"]] == [(sketch["id"], "the sketch")]
    (folder / "index.json").write_text("{ truncated")
    with client_for(model, folder) as c:  # an index lost: the files are still takes
        assert [t["id"] for t in c.get("/api/takes").json()["takes"]] == [sketch["id"]]
        assert c.get(f"/api/takes/{sketch['id']}/midi").content == (folder / f"{sketch['id']}.mid").read_bytes()
    assert {p.name for p in folder.iterdir()} == {"index.json", f"{sketch['id']}.mid"}
    assert [t["id"] for t in json.loads((folder / "index.json").read_text())["takes"]] == [sketch["id"]]


def test_infill_and_arrange_plug_into_the_actions(model, tmp_path):
    """Where the model offers infill_batch/arrange_batch (and was trained for them), the page's
    selection reaches them: bars as 0-based indices, tracks as `#N`, the form's options."""
    import copy

    fake = copy.copy(model)
    fake.tokenizer = model.tokenizer.with_infill()  # a vocabulary with the Fill tokens
    calls = []

    def infill_batch(score, bars, tracks=None, where="the piece", **options):
        calls.append(("infill", bars, tracks, where, options))
        return [score] * options["num_samples"]

    def arrange_batch(score, replace_tracks=None, where="the piece", **options):
        calls.append(("arrange", replace_tracks, where, options))
        return [score] * options["num_samples"]

    fake.infill_batch, fake.arrange_batch = infill_batch, arrange_batch
    with client_for(fake, tmp_path / "takes") as c:
        actions = {a["name"]: a for a in c.get("/api/model").json()["actions"]}
        assert actions["infill"]["available"] and actions["arrange"]["available"]
        sketch = upload(c, sketch_bytes(4), "tune.mid").json()
        job = {"action": "infill", "take": sketch["id"], "params": {"style": "jazz", "seed": 4, "bars": 99}}
        for selection in ({"bars": None, "tracks": []}, {"bars": [2, 1]}, {"bars": [0, 1], "tracks": [1]},
                          {"bars": [0, 1], "tracks": ["#1"]}):
            assert c.post("/api/jobs", json={**job, "selection": selection}).status_code == 400, selection
        done = wait(c, c.post("/api/jobs", json={**job, "selection": {"bars": [1, 2], "tracks": [0]}}).json())
        assert done["status"] == "done" and done["takes"][0]["name"] == "tune, bars 2-3 rewritten"
        assert calls.pop() == ("infill", [1, 2], ["#1"], "tune", {"style": "jazz", "temperature": 1.0, "top_p": 0.95,
                                                                   "guidance": None, "seed": 4, "num_samples": 1})
        arrange = {"action": "arrange", "take": sketch["id"], "params": {"seed": 1, "instruments": ["32"]}}
        assert "choose a style" in c.post("/api/jobs", json=arrange).json()["error"]
        arrange["params"]["style"] = "jazz"
        done = wait(c, c.post("/api/jobs", json=arrange).json())
        assert done["status"] == "done" and done["takes"][0]["name"] == "tune, arranged (jazz)"
        assert calls.pop() == ("arrange", None, "tune", {"style": "jazz", "temperature": 0.8, "top_p": 0.95,
                                                          "guidance": None, "seed": 1, "instruments": ["32"],
                                                          "num_samples": 1})  # arrange's own temperature
        arrange["params"]["temperature"] = 1.2
        wait(c, c.post("/api/jobs", json=arrange).json())
        assert calls.pop()[3]["temperature"] == 1.2
    from composer.studio.actions import can

    with client_for(model, tmp_path / "takes") as c:  # the bundled model: available if it can
        actions = {a["name"]: a for a in c.get("/api/model").json()["actions"]}
        assert actions["infill"]["available"] == can(model, "infill_batch")
        if not can(model, "infill_batch"):
            r = c.post("/api/jobs", json={"action": "infill", "take": sketch["id"], "selection": {"bars": [0, 0]}})
            assert r.status_code == 400 and "the loaded model cannot do this" in r.json()["error"]


MUSICXML = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1"><part-list><score-part id="P1"><part-name>Flute</part-name></score-part></part-list>
<part id="P1"><measure number="1"><attributes><divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type></time>
<clef><sign>G</sign><line>2</line></clef></attributes>
<note><pitch><step>C</step><octave>5</octave></pitch><duration>2</duration><type>half</type></note>
<note><pitch><step>E</step><octave>5</octave></pitch><duration>2</duration><type>half</type></note>
</measure></part></score-partwise>"""


def test_musicxml_upload_becomes_a_midi_take(client):
    r = upload(client, MUSICXML.encode(), "tune.musicxml")
    assert r.status_code == 201, r.text
    roll = client.get(f"/api/takes/{r.json()['id']}").json()["roll"]
    assert [n[2] for t in roll["tracks"] for n in t["notes"]] == [72, 76]


def zip_bomb() -> bytes:
    """A small .mxl whose one member unpacks to 80 MB of zeros."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("score.xml", b"\x00" * (80 * 2**20))
    return buf.getvalue()


def test_bad_uploads_are_4xx_and_the_server_keeps_serving(model, tmp_path):
    folder = tmp_path / "takes"
    good = sketch_bytes(1)
    with client_for(model, folder, max_upload=256 * 1024) as c:
        cases = [(b"not a midi file at all", "x.mid", 400, "not a MIDI file"),
                 (good[:40], "cut.mid", 400, "truncated"),
                 (b"MThd\x00\x00\x00\x06\x00\x02\x00\x01\x01\xe0", "type2.mid", 400, "type-2"),
                 (b"", "empty.mid", 400, "empty"),
                 (good, "song.exe", 400, "unsupported file type"),
                 (good, "", 400, "needs the file's name"),
                 (b"<score-partwise><part", "bad.musicxml", 400, "bad.musicxml"),
                 (b"\x00" * (256 * 1024 + 1), "big.mid", 413, "too large"),
                 (b"PK\x03\x04 not really", "bad.mxl", 400, "damaged zip"),
                 (zip_bomb(), "bomb.mxl", 400, "unpacks to 80 MB")]
        for data, name, status, words in cases:
            r = upload(c, data, name)
            assert r.status_code == status, (name, r.text)
            assert words in r.json()["error"] and "Traceback" not in r.text, (name, r.text)
        # a body without Content-Length (chunked) is cut off at the limit too
        r = c.post("/api/upload?name=big.mid", content=iter([b"\x00" * 100_000] * 3))
        assert r.status_code == 413
        assert c.get("/api/takes").json()["takes"] == []
        assert upload(c, good).status_code == 201  # still serving, and the good file works
    assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".mid"]  # no temp files left


def test_no_request_reaches_outside_the_takes_folder(client, tmp_path):
    secret = tmp_path / "secret.mid"
    secret.write_bytes(sketch_bytes(1))
    take = upload(client, sketch_bytes(1), "..%2F..%2Fescape.mid").json()
    assert take["name"] == "escape"  # only the file name's stem is kept, as a name
    for bad in ("..%2Fsecret", "..%2F..%2Fsecret", "%2e%2e", "secret", "index", "0123456789AB",
                take["id"] + "%2F..%2F..%2Fsecret", take["id"][:-1], "0123456789abc"):
        for method, url in (("GET", f"/api/takes/{bad}"), ("GET", f"/api/takes/{bad}/midi"),
                            ("PATCH", f"/api/takes/{bad}"), ("DELETE", f"/api/takes/{bad}")):
            r = client.request(method, url, json={"name": "x"} if method == "PATCH" else None)
            assert r.status_code in (404, 405), (method, url, r.status_code)
            assert r.content != secret.read_bytes()
    assert client.get("/static/..%2F..%2Fapp.py").status_code == 404
    assert client.get("/static/../app.py").status_code == 404
    assert secret.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["secret.mid", "takes"]


def test_other_hosts_and_other_sites_pages_are_refused(model, tmp_path):
    with TestClient(create_app(model, tmp_path / "t"), base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/takes").status_code == 200
        assert c.get("/api/takes", headers={"host": "evil.example:8000"}).status_code == 400  # DNS rebinding
        assert c.get("/api/takes", headers={"host": "[::1]:8000"}).status_code == 200
        assert c.get("/api/takes", headers={"host": "localhost"}).status_code == 200
        assert c.get("/api/takes", headers={"host": "127.0.0.1.evil.example"}).status_code == 400
        r = c.post("/api/jobs", json={"action": "generate", "params": {"bars": 1}},
                   headers={"origin": "http://evil.example"})
        assert r.status_code == 403
        r = c.post("/api/jobs", json={"action": "generate", "params": {"bars": 1}},
                   headers={"origin": "http://127.0.0.1:8000"})
        assert r.status_code == 202


def test_the_page_its_scripts_and_the_sound_font_come_from_the_server(client):
    page = client.get("/")
    assert page.status_code == 200 and "importmap" in page.text
    policy = page.headers["content-security-policy"]  # the browser may fetch from this server only
    assert policy.startswith("default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'sha256-") and "http" not in policy
    assert "http://" not in page.text and "https://" not in page.text  # nothing from the internet
    for path in ["/static/studio.js", "/static/studio.css", "/static/vendor/spessasynth_lib/index.js",
                 "/static/vendor/spessasynth_lib/spessasynth_processor.min.js",
                 "/static/vendor/spessasynth_core/index.js", "/static/vendor/stb-vorbis/index.js"]:
        r = client.get(path)
        assert r.status_code == 200 and "javascript" in r.headers["content-type"] or path.endswith(".css"), path
    for folder in ("spessasynth_lib", "spessasynth_core", "stb-vorbis"):
        assert "Apache License" in (STATIC / "vendor" / folder / "LICENSE").read_text()
    font = client.get("/soundfont.sf2")
    assert font.status_code == 200 and font.content[:4] == b"RIFF" and font.content[8:12] == b"sfbk"
    info = client.get("/api/model").json()
    assert "jazz" in [s["name"] for s in info["styles"]]
    jazz = next(s for s in info["styles"] if s["name"] == "jazz")
    assert {"value": "drums", "name": "Drums"} in jazz["instruments"]
    actions = {a["name"]: a for a in info["actions"]}
    assert actions["generate"]["available"] and actions["continue"]["available"]
    assert actions["infill"]["needs"] == "bars" and actions["arrange"]["needs"] == "take"


@pytest.mark.slow
def test_installed_package_has_every_static_file(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(ROOT)], check=True, cwd=tmp_path,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    wanted = sorted(p.relative_to(STATIC) for p in STATIC.rglob("*") if p.is_file())
    assert Path("vendor/spessasynth_lib/LICENSE") in wanted
    for rel in wanted:
        assert (target / "composer" / "studio" / "static" / rel).is_file(), rel


def test_cli_studio_refuses_a_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "studio", "--no-browser", "--port", str(port),
                            "--takes", str(tmp_path / "t")], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and f"--port {port}" in r.stderr


@pytest.mark.slow
def test_cli_studio_serves_on_loopback_and_warns_for_other_hosts(tmp_path):
    import urllib.request

    def start(*args):
        return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "studio", "--no-browser",
                                 "--takes", str(tmp_path / "t"), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    proc = start()
    try:
        line = proc.stdout.readline()
        assert line.startswith("composer studio: http://127.0.0.1:"), line
        url = line.split()[2]
        for _ in range(100):
            try:
                info = json.load(urllib.request.urlopen(url + "api/model", timeout=5))
                break
            except OSError:
                time.sleep(0.1)
        assert "jazz" in [s["name"] for s in info["styles"]]
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
        assert proc.wait(30) == 0
        assert proc.stdout.read() == "composer studio: stopped\n" and proc.stderr.read() == ""
    finally:
        proc.kill()
        proc.wait(30)
    proc = start("--host", "0.0.0.0")
    try:
        warning = proc.stderr.readline()
        assert warning.startswith("warning: --host 0.0.0.0") and "other machines" in warning
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_roll_follows_the_tempo_map():
    """Notes and bar lines in seconds as a player times them (a tempo change mid-piece)."""
    from composer.score import ticks_to_seconds
    from composer.studio.roll import roll_data, seconds_at

    notes = np.array([[i * 480, 480, 60 + i % 12, 80] for i in range(16)], dtype=np.int64)
    score = Score(tpq=480, tracks=[Track(0, notes=notes)],
                  tempos=np.array([[0.0, 120.0], [1920.0, 60.0], [5000.0, 90.0]]),
                  time_signatures=np.array([[0, 4, 4], [3840, 3, 4]]), end=16 * 480)
    ticks = np.arange(0, 16 * 480 + 1, 97)
    assert np.allclose(seconds_at(score, ticks), [ticks_to_seconds(score, t) for t in ticks])
    roll = roll_data(score)
    assert roll["bars"] == [0.0, 2.0, 6.0, 8.8056, 10.8056] and roll["tempo"] == 120 and roll["meter"] == "4/4"
    assert roll["tracks"][0]["notes"][4][:2] == [2.0, 1.0]  # the fifth beat: after the change to 60 bpm


def test_a_take_downloads_as_musicxml_and_wav(client, tmp_path):
    take = upload(client, sketch_bytes(2)).json()
    info = client.get("/api/model").json()
    r = client.get(f"/api/takes/{take['id']}/export/musicxml")
    assert r.status_code == 200 and b"<score-partwise" in r.content
    assert r.headers["content-disposition"].endswith('.musicxml"')
    r = client.get(f"/api/takes/{take['id']}/export/wav")
    if info["exports"]["wav"]:
        assert r.status_code == 200 and r.content[:4] == b"RIFF"
    else:
        assert r.status_code == 400 and "FluidSynth" in r.json()["error"]
    assert client.get(f"/api/takes/{take['id']}/export/mp3").status_code == 404
    assert client.get("/api/takes/..%2f..%2fetc/export/wav").status_code == 404
    folder = Path(client.app.state.studio.store.folder) if hasattr(client.app.state, "studio") else None
    if folder is not None:  # the temporary export folder is gone
        assert not [p for p in folder.iterdir() if p.name.startswith(".export-")]
