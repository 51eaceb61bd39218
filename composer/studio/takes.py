"""The takes the studio keeps: one folder, a MIDI file per take and an index (index.json).

    takes/index.json        {"takes": [{"id", "name", "created", "source", "settings", ...}, ...]}
    takes/<id>.mid          the take (what the download gives)

A take id is 12 lowercase hex digits made here (secrets), and every id from a request is
checked against that pattern before any path is built from it, so no request can name a file
outside the folder. Every write is atomic (composer/atomic.py): a crash leaves the old index
or the new one. An index that cannot be read (hand-edited, truncated) is rebuilt from the
MIDI files in the folder, so takes are never lost with it.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from pathlib import Path

from ..atomic import write_bytes_atomic, write_text_atomic
from ..errors import ComposerError

ID_PATTERN = re.compile(r"[0-9a-f]{12}")
MAX_NAME = 120
INDEX = "index.json"


class TakeNotFound(ComposerError):
    """A take id that is malformed or names no take (the API answers 404)."""


def check_id(take_id: str) -> str:
    """`take_id` if it is a well-formed take id, else TakeNotFound (never a path)."""
    if not isinstance(take_id, str) or not ID_PATTERN.fullmatch(take_id):
        raise TakeNotFound("no such take")
    return take_id


def clean_name(name) -> str:
    """A take name as shown and stored: one line, printable, at most MAX_NAME characters."""
    if not isinstance(name, str):
        raise ComposerError("a take name must be text")
    text = " ".join("".join(c if c.isprintable() else " " for c in name).split())[:MAX_NAME]
    if not text:
        raise ComposerError("a take name cannot be empty")
    return text


class TakeStore:
    """The takes folder. Thread-safe: the server's request threads and the generation worker
    share one store."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._takes, rebuilt = self._load()
        if rebuilt:  # the index lost or out of date: write the one the folder holds
            self._save()

    # ---- reading ------------------------------------------------------------------------
    def _load(self) -> tuple[dict[str, dict], bool]:
        """The takes, and whether the index had to be rebuilt."""
        index = self.folder / INDEX
        entries: list = []
        rebuilt = False
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
            entries = data["takes"] if isinstance(data, dict) and isinstance(data.get("takes"), list) else []
        except (OSError, ValueError):
            rebuilt = index.exists()
        takes = {}
        for e in entries:
            if isinstance(e, dict) and isinstance(e.get("id"), str) and ID_PATTERN.fullmatch(e["id"]) \
                    and (self.folder / f"{e['id']}.mid").is_file():
                takes[e["id"]] = e
        # MIDI files the index does not list (an index lost or older than its files): keep them
        for path in sorted(self.folder.glob("*.mid")):
            if ID_PATTERN.fullmatch(path.stem) and path.stem not in takes:
                rebuilt = True
                takes[path.stem] = {"id": path.stem, "name": f"take {path.stem[:6]}", "source": "found",
                                    "created": path.stat().st_mtime, "settings": {}}
        return takes, rebuilt or len(takes) != len(entries)

    def list(self) -> list[dict]:
        """Every take, newest first."""
        with self._lock:
            return sorted((dict(t) for t in self._takes.values()), key=lambda t: -t.get("created", 0))

    def get(self, take_id: str) -> dict:
        with self._lock:
            take = self._takes.get(check_id(take_id))
            if take is None:
                raise TakeNotFound("no such take")
            return dict(take)

    def midi_path(self, take_id: str) -> Path:
        """The take's MIDI file (the id checked, the take existing)."""
        self.get(take_id)
        return self.folder / f"{take_id}.mid"

    # ---- writing ------------------------------------------------------------------------
    def add(self, midi: bytes, name: str, source: str, settings: dict | None = None, **extra) -> dict:
        """A new take from the bytes of a MIDI file; returns its entry."""
        take_id = secrets.token_hex(6)
        entry = {"id": take_id, "name": clean_name(name), "source": source, "created": time.time(),
                 "settings": settings or {}, **extra}
        with self._lock:
            write_bytes_atomic(self.folder / f"{take_id}.mid", midi, overwrite=False)
            self._takes[take_id] = entry
            self._save()
        return dict(entry)

    def rename(self, take_id: str, name) -> dict:
        name = clean_name(name)
        with self._lock:
            take = self._takes.get(check_id(take_id))
            if take is None:
                raise TakeNotFound("no such take")
            take["name"] = name
            self._save()
            return dict(take)

    def delete(self, take_id: str) -> None:
        with self._lock:
            if self._takes.pop(check_id(take_id), None) is None:
                raise TakeNotFound("no such take")
            self._save()  # the index first: a crash in between leaves a file the next start lists
            (self.folder / f"{take_id}.mid").unlink(missing_ok=True)

    def _save(self) -> None:
        takes = sorted(self._takes.values(), key=lambda t: t.get("created", 0))
        write_text_atomic(self.folder / INDEX, json.dumps({"takes": takes}, indent=1))
