"""The studio's web app (Starlette): the page, its static files and sound font, and the JSON API.

    GET    /                         the page
    GET    /static/...               its script, style sheet and the vendored synthesizer
    GET    /soundfont.sf2            the General MIDI sound font that ships with pretty_midi
    GET    /api/model                styles, their instruments and guidance, meters, actions
    POST   /api/jobs                 {"action", "take", "selection", "params"} -> a queued job
    GET    /api/jobs/<id>            its state: queued (n ahead), running (bars done / total), done (takes)
    POST   /api/jobs/<id>/cancel     stop it
    GET    /api/takes                the takes kept, newest first
    GET    /api/takes/<id>           one take and its piano roll
    GET    /api/takes/<id>/midi      the MIDI file (a download)
    GET    /api/takes/<id>/export/K  the take as K = wav (FluidSynth) or musicxml (music21)
    PATCH  /api/takes/<id>           {"name"}: rename
    DELETE /api/takes/<id>           delete
    POST   /api/upload?name=F.mid    the raw bytes of a MIDI/MusicXML/ABC/kern file -> a take

Errors are JSON {"error": "one line"} with a 4xx status (400 bad request, 404 no such take or
job, 413 too large, 403 another site's page); the server never sends a traceback.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import re
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import ComposerError
from ..load import SUPPORTED_SUFFIXES
from ..midi_io import midi_bytes, read_midi
from .actions import ACTIONS, instrument_choices
from .export import can_render
from .jobs import JobQueue, TooManyJobs
from .roll import roll_data
from .takes import TakeNotFound, TakeStore, check_id

STATIC = Path(__file__).parent / "static"
MAX_UPLOAD_BYTES = 4 * 1024 * 1024
MAX_JSON_BYTES = 64 * 1024
METERS = ["4/4", "3/4", "2/4", "6/8", "5/4", "7/8", "12/8", "2/2", "9/8", "6/4"]
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"]


def soundfont_path() -> Path | None:
    """The GM sound font pretty_midi ships (TimGM6mb.sf2), if it is there.

    Found without importing pretty_midi, which would load FluidSynth (and, under $CI, print)."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "TimGM6mb.sf2"
    return path if path.is_file() else None


EXPORTS = {"wav": "audio/wav", "musicxml": "application/vnd.recordare.musicxml+xml"}


class Studio:
    """The server's state: the model (loaded once), the takes folder and the job queue."""

    def __init__(self, model, takes_dir, max_upload: int = MAX_UPLOAD_BYTES):
        self.model = model
        self.store = TakeStore(takes_dir)
        self.jobs = JobQueue(on_error=lambda text: print(f"composer studio: {text}", file=sys.stderr))
        self.max_upload = max_upload
        self._parse_lock = threading.Semaphore(2)  # uploads parsed at once (music21 is slow)

    def keep(self, score, name: str, source: str, settings: dict | None = None) -> dict:
        """A score as a new take."""
        return self.store.add(midi_bytes(score, title=name), name, source, settings,
                              notes=score.note_count)

    def score(self, take_id: str):
        """A take's score (from its MIDI file, channels kept as written)."""
        return read_midi(self.store.midi_path(take_id), channels=True)

    def export(self, take_id: str, kind: str) -> bytes:
        """A take as WAV (FluidSynth) or MusicXML (music21), made in a temporary folder inside
        the takes folder and removed after."""
        from .export import export_musicxml, render_wav

        score = self.score(take_id)
        with tempfile.TemporaryDirectory(prefix=".export-", dir=self.store.folder) as d:
            out = Path(d) / f"take.{kind}"
            if kind == "wav":
                render_wav(score, out)
            else:
                export_musicxml(score, out, work_dir=Path(d))
            return out.read_bytes()

    def model_info(self) -> dict:
        m = self.model
        styles = [{"name": s, "instruments": instrument_choices(m, s), "guidance": m.guidance_for(s),
                   "guidance_bars": m.guidance_bars_for(s)} for s in m.styles]
        from ..generate.options import ARRANGE_TEMPERATURE

        return {"styles": styles, "any_style": instrument_choices(m, None), "meters": METERS,
                "temperature": {"default": 1.0, "arrange": ARRANGE_TEMPERATURE},
                "soundfont": soundfont_path() is not None, "max_upload": self.max_upload,
                "exports": {"wav": can_render(), "musicxml": True},
                "upload_types": list(SUPPORTED_SUFFIXES),
                "actions": [a.public(m) for a in ACTIONS.values()], "takes_folder": str(self.store.folder)}

    def upload(self, data: bytes, filename: str) -> dict:
        """Bytes of a music file -> a take (ComposerError for anything unreadable)."""
        name = Path(filename or "").name
        if not name:
            raise ComposerError("the upload needs the file's name (?name=FILE.mid), whose suffix says its type")
        suffix = Path(name).suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise ComposerError(f"{name}: unsupported file type (expected {', '.join(SUPPORTED_SUFFIXES)})")
        if not data:
            raise ComposerError(f"{name}: empty file")
        if suffix == ".mxl":
            _check_zip(data, name)
        from ..load import load_score

        fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=suffix, dir=self.store.folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            with self._parse_lock:
                try:
                    score = load_score(tmp, channels=True)
                except ComposerError as e:
                    raise ComposerError(f"{name}: {getattr(e, 'reason', e)}") from None
                except Exception as e:  # noqa: BLE001 (a parser's surprise is still a bad file)
                    raise ComposerError(f"{name}: cannot read it ({type(e).__name__})") from None
            if score.note_count == 0:
                raise ComposerError(f"{name}: no notes")
            return self.keep(score, Path(name).stem or "upload", "uploaded", {"file": name})
        finally:
            Path(tmp).unlink(missing_ok=True)


def page_policy() -> str:
    """The page's Content-Security-Policy: everything from this server only (the browser itself
    then refuses any request elsewhere), the one inline script (the import map) by its hash."""
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    inline = re.findall(r"<script type=\"importmap\">(.*?)</script>", html, flags=re.DOTALL)
    hashes = " ".join("'sha256-" + base64.b64encode(hashlib.sha256(x.encode()).digest()).decode() + "'"
                      for x in inline)
    # wasm-unsafe-eval: the synthesizer compiles its WebAssembly (the Vorbis decoder) in the page
    return (f"default-src 'self'; script-src 'self' 'wasm-unsafe-eval' {hashes}; img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'")


MAX_UNZIPPED_BYTES = 64 * 1024 * 1024


def _check_zip(data: bytes, name: str) -> None:
    """A compressed MusicXML file (.mxl, a zip) that unpacks to at most MAX_UNZIPPED_BYTES: a
    small upload cannot make the parser unpack gigabytes."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            size = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ComposerError(f"{name}: not a compressed MusicXML file (a damaged zip)") from None
    if size > MAX_UNZIPPED_BYTES:
        raise ComposerError(f"{name}: unpacks to {size // 2**20} MB (at most {MAX_UNZIPPED_BYTES // 2**20} MB)")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


def _job_json(studio: Studio, job) -> dict:
    return job.public(ahead=studio.jobs.ahead(job))


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it passes `limit` bytes (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _json_body(request: Request) -> dict:
    data = await _read_body(request, MAX_JSON_BYTES)
    if data is None:
        raise ComposerError("the request body is too large")
    try:
        body = json.loads(data)
    except ValueError:
        raise ComposerError("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise ComposerError("the request body must be a JSON object")
    return body


def create_app(model, takes_dir, allowed_hosts=None, max_upload: int = MAX_UPLOAD_BYTES) -> Starlette:
    """The app. `allowed_hosts`: Host header values served (default: loopback names only, which
    also shuts out DNS-rebinding pages); ["*"] for any."""
    studio = Studio(model, takes_dir, max_upload=max_upload)
    hosts = list(allowed_hosts or LOOPBACK_HOSTS)

    async def page(request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache",
                                                            "Content-Security-Policy": page_policy()})

    async def soundfont(request):
        path = soundfont_path()
        if path is None:
            return _error(404, "no sound font: pretty_midi's TimGM6mb.sf2 is missing")
        return FileResponse(path, media_type="application/octet-stream",
                            headers={"Cache-Control": "max-age=86400"})

    async def model_info(request):
        return JSONResponse(studio.model_info())

    async def new_job(request):
        body = await _json_body(request)
        action = ACTIONS.get(body.get("action"))
        if action is None:
            raise ComposerError(f"unknown action {body.get('action')!r}")
        if not action.available(studio.model):
            raise ComposerError(f"{action.name}: the loaded model cannot do this (not in this version of "
                                "composer, or a model trained without infill tokens)")
        job = await run_in_threadpool(action.build, studio, body)
        studio.jobs.submit(job)
        return JSONResponse(_job_json(studio, job), status_code=202)

    def _job(request):
        job = studio.jobs.get(request.path_params["job_id"])
        if job is None:
            raise TakeNotFound("no such job")
        return job

    async def job_state(request):
        return JSONResponse(_job_json(studio, _job(request)))

    async def job_cancel(request):
        job = _job(request)
        studio.jobs.cancel(job)
        return JSONResponse(_job_json(studio, job))

    async def takes(request):
        return JSONResponse({"takes": studio.store.list()})

    async def take(request):
        take_id = check_id(request.path_params["take_id"])
        entry = studio.store.get(take_id)
        score = await run_in_threadpool(studio.score, take_id)
        return JSONResponse({"take": entry, "roll": roll_data(score)})

    async def take_midi(request):
        take_id = check_id(request.path_params["take_id"])
        entry = studio.store.get(take_id)
        safe = re.sub(r"[^A-Za-z0-9.-]+", "_", entry["name"]).strip("._") or take_id
        return FileResponse(studio.store.midi_path(take_id), media_type="audio/midi",
                            filename=f"{safe[:80]}.mid", headers={"Cache-Control": "no-cache"})

    async def take_export(request):
        take_id = check_id(request.path_params["take_id"])
        kind = request.path_params["kind"]
        if kind not in EXPORTS:
            raise TakeNotFound(f"no export {kind!r} (wav, musicxml)")
        entry = studio.store.get(take_id)
        data = await run_in_threadpool(studio.export, take_id, kind)
        safe = re.sub(r"[^A-Za-z0-9.-]+", "_", entry["name"]).strip("._") or take_id
        return Response(data, media_type=EXPORTS[kind],
                        headers={"Content-Disposition": f'attachment; filename="{safe[:80]}.{kind}"',
                                 "Cache-Control": "no-cache"})

    async def take_rename(request):
        body = await _json_body(request)
        return JSONResponse(studio.store.rename(request.path_params["take_id"], body.get("name")))

    async def take_delete(request):
        studio.store.delete(request.path_params["take_id"])
        return Response(status_code=204)

    async def upload(request):
        data = await _read_body(request, studio.max_upload)
        if data is None:
            return _error(413, f"file too large (at most {studio.max_upload // 1024} KB)")
        entry = await run_in_threadpool(studio.upload, data, request.query_params.get("name", ""))
        return JSONResponse(entry, status_code=201)

    async def composer_error(request, exc):
        status = 404 if isinstance(exc, TakeNotFound) else 429 if isinstance(exc, TooManyJobs) else 400
        return _error(status, str(exc))

    async def http_error(request, exc):
        return _error(exc.status_code, exc.detail)

    async def internal_error(request, exc):
        print(f"composer studio: internal error on {request.method} {request.url.path}: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return _error(500, "internal error (see the server's console)")

    routes = [
        Route("/", page),
        Route("/soundfont.sf2", soundfont),
        Route("/api/model", model_info),
        Route("/api/jobs", new_job, methods=["POST"]),
        Route("/api/jobs/{job_id}", job_state),
        Route("/api/jobs/{job_id}/cancel", job_cancel, methods=["POST"]),
        Route("/api/takes", takes),
        Route("/api/takes/{take_id}", take),
        Route("/api/takes/{take_id}", take_rename, methods=["PATCH"]),
        Route("/api/takes/{take_id}", take_delete, methods=["DELETE"]),
        Route("/api/takes/{take_id}/midi", take_midi),
        Route("/api/takes/{take_id}/export/{kind}", take_export),
        Route("/api/upload", upload, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(LocalOnlyMiddleware, allowed_hosts=hosts),
                    Middleware(GZipMiddleware, minimum_size=1024)],
        exception_handlers={ComposerError: composer_error, HTTPException: http_error, Exception: internal_error},
        lifespan=_lifespan(studio),
    )
    app.state.studio = studio
    return app


def _lifespan(studio: Studio):
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        studio.jobs.close()
    return lifespan


def _host_name(host: str) -> str:
    """The name in a Host header, without its port ("[::1]:8000" -> "[::1]")."""
    if host.startswith("["):
        return host[:host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class LocalOnlyMiddleware:
    """Two checks before any route:
    - the Host header must name one of `allowed_hosts` (400 otherwise): a page of another site
      that points its own name at 127.0.0.1 (DNS rebinding) is not answered;
    - a request that changes something (not GET/HEAD) whose Origin header (set by browsers)
      is another site's is refused (403): no web page the user visits can generate, upload,
      rename or delete takes through the studio."""

    def __init__(self, app, allowed_hosts):
        self.app, self.hosts = app, set(allowed_hosts)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            host = headers.get(b"host", b"").decode("latin-1")
            if "*" not in self.hosts and _host_name(host) not in self.hosts:
                await _error(400, "invalid Host header")(scope, receive, send)
                return
            origin = headers.get(b"origin", b"").decode("latin-1")
            if scope["method"] not in ("GET", "HEAD") and origin and origin.split("://", 1)[-1] != host:
                await _error(403, "requests from another site's page are refused")(scope, receive, send)
                return
        await self.app(scope, receive, send)
