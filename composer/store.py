"""The token store: every tokenised piece of a corpus in a few large append-only shards.

    cache/store-<fingerprint>/shard-000.tok   the pieces' tokens, one after another (int16, raw)
    cache/store-<fingerprint>/shard-001.tok   a new shard once one passes SHARD_BYTES
    cache/store-<fingerprint>/catalog.npy     one row per piece: sha256 of the source file,
                                              shard, offset and length (tokens), notes, seconds
    cache/store-<fingerprint>/lock            held (flock) by the one process that appends

A piece is keyed by the content (sha256) of the file it came from, and a store holds the
tokens of one tokenizer fingerprint, so a re-run skips every unchanged file and an edited
file is appended anew (its old tokens stay, unreferenced). Shards only grow: bytes once
written never change, so readers need no lock, and training maps each shard once (a handful of
memory maps and file descriptors whatever the corpus size, and the resident memory of a
training process does not grow with the corpus beyond its index).

Writes are crash-safe: tokens are appended and flushed first, then catalog.npy is replaced
atomically. Bytes a kill left past the catalog's end of a shard are cut off by the next writer.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import ComposerError

TOKEN_DTYPE = np.dtype("<i2")  # token ids (vocabularies stay well below 32768; replay files use int16 too)
SHARD_BYTES = 1 << 28  # start a new shard past 256 MiB
CATALOG_DTYPE = np.dtype([("sha", "V32"), ("shard", "<u2"), ("offset", "<i8"), ("length", "<i4"),
                          ("n_notes", "<i4"), ("seconds", "<f4")])
CATALOG, LOCK = "catalog.npy", "lock"


def store_name(fingerprint: str) -> str:
    return f"store-{fingerprint}"


def shard_name(k: int) -> str:
    return f"shard-{k:03d}.tok"


def cannot_open(path, e: OSError) -> ComposerError:
    if e.errno in (errno.EMFILE, errno.ENFILE):
        return ComposerError(f"{path}: cannot open ({e.strerror}); raise the open-files limit (ulimit -n)")
    return ComposerError(f"{path}: token store missing or unreadable ({e.strerror or e}); tokenise the corpus again")


def read_catalog(folder: Path) -> np.ndarray:
    path = Path(folder) / CATALOG
    if not path.exists():
        return np.zeros(0, CATALOG_DTYPE)
    try:
        cat = np.load(path, allow_pickle=False)
        if cat.dtype != CATALOG_DTYPE:
            raise ValueError(f"unexpected catalog layout {cat.dtype}")
        return cat
    except OSError as e:
        raise cannot_open(path, e) from None
    except ValueError as e:
        raise ComposerError(f"{path}: corrupt token store catalog ({e}); delete {folder} and tokenise again") from None


class StoreWriter:
    """Appends pieces to a store (one writer at a time: it holds the store's lock).

        with StoreWriter(cache / store_name(fp)) as w:
            w.get(sha)              # the catalog row of a known piece, or None
            w.add(sha, ids, n_notes, seconds)
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self._lock = self._shard = None
        self._new: list[tuple] = []

    def __enter__(self) -> StoreWriter:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.folder / LOCK, "a")
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # another tokeniser on this cache waits here
        self.catalog = read_catalog(self.folder)
        self.rows = {bytes(s): i for i, s in enumerate(self.catalog["sha"])}
        self.shard = int(self.catalog["shard"].max()) if len(self.catalog) else 0
        ends = self.catalog["offset"] + self.catalog["length"]
        mine = self.catalog["shard"] == self.shard
        self.end = int(ends[mine].max()) if mine.any() else 0  # tokens in the current shard
        for k in range(self.shard + 1):  # cut what a killed writer left past the catalog
            path = self.folder / shard_name(k)
            on_file = self.shard_end(k)
            if path.exists() and path.stat().st_size > on_file * TOKEN_DTYPE.itemsize:
                os.truncate(path, on_file * TOKEN_DTYPE.itemsize)
        return self

    def shard_end(self, k: int) -> int:
        rows = self.catalog["shard"] == k
        return int((self.catalog["offset"][rows] + self.catalog["length"][rows]).max()) if rows.any() else 0

    def get(self, sha: str):
        i = self.rows.get(bytes.fromhex(sha))
        if i is None:
            return None
        return self.catalog[i] if i < len(self.catalog) else np.array(self._new[i - len(self.catalog)], CATALOG_DTYPE)[()]

    def add(self, sha: str, ids: np.ndarray, n_notes: int, seconds: float):
        """Append a piece (a no-op for a known sha); its catalog row."""
        known = self.get(sha)
        if known is not None:
            return known
        ids = np.asarray(ids)
        if len(ids) and (int(ids.max()) > np.iinfo(TOKEN_DTYPE).max or int(ids.min()) < 0):
            raise ValueError("token ids do not fit the store's int16")
        if self.end and (self.end + len(ids)) * TOKEN_DTYPE.itemsize > SHARD_BYTES:
            self._close_shard()
            self.shard, self.end = self.shard + 1, 0
        if self._shard is None:
            self._shard = open(self.folder / shard_name(self.shard), "ab")
        self._shard.write(np.ascontiguousarray(ids, dtype=TOKEN_DTYPE).tobytes())
        row = (bytes.fromhex(sha), self.shard, self.end, len(ids), int(n_notes), float(seconds))
        self.end += len(ids)
        self.rows[row[0]] = len(self.catalog) + len(self._new)
        self._new.append(row)
        return np.array(row, CATALOG_DTYPE)[()]

    def _close_shard(self) -> None:
        if self._shard is not None:
            self._shard.flush()
            os.fsync(self._shard.fileno())
            self._shard.close()
            self._shard = None

    def commit(self) -> None:
        """Make the appended pieces durable: shards flushed, then the catalog replaced atomically."""
        self._close_shard()
        if self._new:
            self.catalog = np.concatenate([self.catalog, np.array(self._new, dtype=CATALOG_DTYPE)])
            self._new = []
            with atomic_path(self.folder / CATALOG) as tmp, open(tmp, "wb") as f:
                np.save(f, self.catalog, allow_pickle=False)

    def __exit__(self, exc_type, *exc):
        try:
            if exc_type is None:
                self.commit()
            else:
                self._close_shard()  # bytes past the catalog are cut off by the next writer
        finally:
            self._lock.close()  # releases the flock
        return False


class StoreReader:
    """Read-only access to a store's shards: one memory map per shard, opened on first use."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self._maps: dict[int, np.ndarray] = {}
        self._fds: dict[int, int] = {}

    def tokens(self, shard: int, offset: int, length: int) -> np.ndarray:
        """A read-only view into the shard's memory map (no copy: pages are read on use)."""
        m = self._maps.get(shard)
        if m is None or offset + length > len(m):
            path = self.folder / shard_name(shard)
            try:
                size = os.path.getsize(path) // TOKEN_DTYPE.itemsize
                if offset + length > size:
                    raise ComposerError(f"{path}: token store shorter than its index ({size} tokens, piece "
                                        f"ends at {offset + length}); tokenise the corpus again")
                if size:  # a plain ndarray over the map: its slices cost 120 bytes, np.memmap's 490
                    with open(path, "rb") as f:
                        m = np.frombuffer(mmap.mmap(f.fileno(), size * TOKEN_DTYPE.itemsize, access=mmap.ACCESS_READ),
                                          dtype=TOKEN_DTYPE)
                else:
                    m = np.zeros(0, TOKEN_DTYPE)
            except OSError as e:
                raise cannot_open(path, e) from None
            self._maps[shard] = m
        return m[offset:offset + length]

    def read(self, shard: int, offset: int, length: int) -> np.ndarray:
        """A copy in memory, read with pread (nothing mapped: scanning a corpus once leaves the
        training process's resident memory as it was)."""
        fd = self._fds.get(shard)
        path = self.folder / shard_name(shard)
        if fd is None:
            try:
                fd = self._fds[shard] = os.open(path, os.O_RDONLY)
            except OSError as e:
                raise cannot_open(path, e) from None
        n = length * TOKEN_DTYPE.itemsize
        data = os.pread(fd, n, offset * TOKEN_DTYPE.itemsize)
        if len(data) != n:
            raise ComposerError(f"{path}: token store shorter than its index; tokenise the corpus again")
        return np.frombuffer(data, dtype=TOKEN_DTYPE).copy()

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self._maps.clear()

    def __del__(self):
        with contextlib.suppress(OSError, AttributeError):
            self.close()
