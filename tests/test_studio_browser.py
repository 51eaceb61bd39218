"""The studio page in a real headless browser (Chromium driven by Playwright): generate a take,
see its notes on the roll, hear it (the synthesizer reports the notes it plays), stop a long
generation, download the MIDI file and parse it, refuse a corrupt upload on the page.

Skips, saying why, only where no Chromium can be found (Debian: apt-get install chromium; .ci/run
installs it). The screenshot is kept under the test's tmp folder (studio.png)."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import urllib.request

import pytest

from composer.midi_io import read_midi

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[test]')")

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The studio served by uvicorn on a free loopback port, in a thread of this process."""
    import uvicorn

    from composer.generate import load_model
    from composer.studio.app import create_app

    folder = tmp_path_factory.mktemp("takes")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    srv = uvicorn.Server(uvicorn.Config(create_app(load_model(), folder), log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    end = time.time() + 30
    while not srv.started:
        assert time.time() < end, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/", folder
    srv.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    with playwright.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=executable) if executable else p.chromium.launch()
        except playwright.Error as e:
            pytest.skip(f"no Chromium to drive (apt-get install chromium, or playwright install chromium): "
                        f"{str(e).splitlines()[0]}")
        yield browser
        browser.close()


def open_page(browser, url, bypass_csp: bool):
    page = browser.new_page(viewport={"width": 1400, "height": 860}, accept_downloads=True, bypass_csp=bypass_csp)
    page.problems, page.requested = [], []
    page.on("request", lambda r: page.requested.append(r.url))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.goto(url)
    return page


@pytest.fixture(scope="module")
def page(server, browser):
    """The page, its security policy waived so the test can evaluate its own expressions in it
    (test_the_page_works_under_its_security_policy runs without the waiver)."""
    page = open_page(browser, server[0], bypass_csp=True)
    page.wait_for_function("window.studio && window.studio.ready", timeout=30_000)
    yield page
    page.close()


def api(server, path):
    return json.load(urllib.request.urlopen(server[0] + path.lstrip("/"), timeout=30))


def lit_pixels(page) -> int:
    """Pixels of the roll's canvas brighter than its background and grid."""
    return page.evaluate("""() => {
        const c = document.getElementById('roll');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 240) n++;
        return n;
    }""")


def test_generate_see_hear_download(server, page, tmp_path):
    # the temperature field left empty: each action's own (generate 1.0, arrange colder)
    assert page.get_attribute("#temperature", "placeholder") == "1; arrange 0.8"
    page.select_option("#style", "jazz")
    page.fill("#bars", "2")
    page.fill("#seed", "5")
    page.click("#generate")  # also the user gesture that lets the page start audio
    page.wait_for_function("window.studio.notesDrawn > 0 && !window.studio.state.job", timeout=60_000)

    take = page.evaluate("window.studio.state.take")
    roll = api(server, f"/api/takes/{take['id']}")["roll"]
    assert int(page.get_attribute("#roll", "data-notes")) == roll["notes"] > 0
    assert page.locator("#tracks tr").count() == len(roll["tracks"])
    assert lit_pixels(page) > 20 * roll["notes"]  # every note is a few pixels at least
    assert page.locator("#takes li").first.get_attribute("data-take") == take["id"]

    # "play the take when it is ready" (on by default): the synthesizer reports the notes it plays
    page.wait_for_function("window.studio.playing && window.studio.notesPlayed > 0", timeout=30_000)
    assert page.evaluate("window.studio.firstSoundMs") > 0  # timed from the Generate click
    page.wait_for_function("document.getElementById('clock').textContent !== '0:00.0'", timeout=5_000)
    page.screenshot(path=str(tmp_path / "studio.png"))
    page.click("#stop")
    assert not page.evaluate("window.studio.playing")
    played = page.evaluate("window.studio.notesPlayed")
    page.click("#play")  # and by hand
    page.wait_for_function(f"window.studio.playing && window.studio.notesPlayed > {played}", timeout=20_000)
    page.keyboard.press("Space")  # Space stops
    page.wait_for_function("!window.studio.playing", timeout=5_000)

    page.click("#tracks tr >> nth=0 >> button.mute")  # mute: the row and its notes fade
    assert "muted" in page.get_attribute("#tracks tr >> nth=0", "class")
    assert "on" in page.get_attribute("#tracks tr >> nth=0 >> button.mute", "class")

    page.fill("#seed", "")  # Reuse settings puts the take's back in the form
    page.click("#reuse")
    assert page.input_value("#seed") == "5" and page.input_value("#bars") == "2"

    with page.expect_download() as download:
        page.click("#download")
    path = tmp_path / "take.mid"
    download.value.save_as(path)
    assert download.value.suggested_filename == "jazz_2_bars_seed_5.mid"
    assert read_midi(path).note_count == roll["notes"]
    with page.expect_download() as download:  # the same take as notation
        page.click("#download-xml")
    xml = tmp_path / "take.musicxml"
    download.value.save_as(xml)
    assert download.value.suggested_filename == "jazz_2_bars_seed_5.musicxml"
    assert b"<score-partwise" in xml.read_bytes()
    assert page.problems == []


def test_the_page_works_under_its_security_policy(server, browser):
    """Generate and play with the page's Content-Security-Policy in force: nothing refused, and
    every request went to the studio's server."""
    page = open_page(browser, server[0], bypass_csp=False)
    page.wait_for_selector("#style option[value=jazz]", state="attached")
    page.fill("#bars", "1")
    page.click("#generate")
    page.wait_for_selector('#roll:not([data-notes="0"])', timeout=60_000)
    page.wait_for_selector("body[data-notes-played]", timeout=30_000)  # played when ready
    page.click("#stop")
    assert page.problems == []  # no script error, nothing the policy refused
    assert page.requested and all(url.startswith(server[0]) for url in page.requested)  # offline
    page.close()


def test_variations_make_several_takes(server, page):
    before = len(api(server, "/api/takes")["takes"])
    page.fill("#bars", "1")
    page.fill("#num-variations", "2")
    page.click("#variations")
    page.wait_for_function("!window.studio.state.job && document.querySelectorAll('#takes li').length === "
                           f"{before + 2} && !document.getElementById('message').hidden", timeout=60_000)
    names = [t["name"] for t in api(server, "/api/takes")["takes"][:2]]
    assert sorted(names) == ["jazz · 1 bar · seed 5 (1/2)", "jazz · 1 bar · seed 5 (2/2)"]
    assert "2 takes made" in page.text_content("#message-text")


def test_stop_a_long_generation(page):
    page.fill("#bars", "64")
    page.click("#generate")
    page.wait_for_function("document.getElementById('progress-text').textContent.startsWith('bar ') && "
                           "window.studio.state.job && window.studio.state.job.bars_done >= 1", timeout=60_000)
    page.click("#stop-job")
    page.wait_for_function("!window.studio.state.job", timeout=30_000)
    assert page.text_content("#message-text") == "Stopped."
    assert page.is_hidden("#progress")
    page.fill("#bars", "2")


def test_a_corrupt_upload_is_an_error_on_the_page_and_the_server_goes_on(server, page):
    before = len(api(server, "/api/takes")["takes"])
    page.set_input_files("#upload", files=[{"name": "broken.mid", "mimeType": "audio/midi",
                                            "buffer": b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0junk"}])
    # (the previous test's message may still show: wait for this upload's own)
    page.wait_for_function("!document.getElementById('message').hidden && "
                           "document.getElementById('message-text').textContent.startsWith('broken.mid')",
                           timeout=30_000)
    assert page.text_content("#message-text").startswith("broken.mid: truncated")
    assert len(api(server, "/api/takes")["takes"]) == before
    # a good upload after it opens as a take
    good = (server[1] / f"{api(server, '/api/takes')['takes'][0]['id']}.mid").read_bytes()
    page.set_input_files("#upload", files=[{"name": "mine.mid", "mimeType": "audio/midi", "buffer": good}])
    page.wait_for_function("window.studio.state.take && window.studio.state.take.name === 'mine'", timeout=30_000)


def test_rename_and_delete_from_the_list(server, page):
    first = page.locator("#takes li").first
    take_id = first.get_attribute("data-take")
    first.locator("button.rename").click()
    page.fill("#takes li >> nth=0 >> input.rename-input", "keeper")
    page.press("#takes li >> nth=0 >> input.rename-input", "Enter")
    page.wait_for_selector(f"#takes li[data-take='{take_id}'] .take-name:text('keeper')")
    assert [t["name"] for t in api(server, "/api/takes")["takes"] if t["id"] == take_id] == ["keeper"]
    page.once("dialog", lambda d: d.accept())
    page.locator(f"#takes li[data-take='{take_id}'] button.delete").click()
    page.wait_for_selector(f"#takes li[data-take='{take_id}']", state="detached")
    assert take_id not in [t["id"] for t in api(server, "/api/takes")["takes"]]
    assert not (server[1] / f"{take_id}.mid").exists()
