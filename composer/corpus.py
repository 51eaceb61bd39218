"""The corpus pipeline: find music files, tokenise them in parallel, cache the tokens.

    found = discover(["data/corpus"])                      # styles from sub-folders
    summary = tokenize_corpus(["data/corpus"], "cache", tok, workers=8)
    print(summary.format())
    index = load_index("cache")                           # index.open_tokens(i): one file's tokens
    style_instruments(index)                              # {"pop": [0, 73], ...}

Layout of a corpus: `root/<style>/**/piece.mid` (the first sub-folder names the style), or a
flat folder plus `style=` for all of it. Files are encoded with no style (`Style_?`); the index
records each file's style and training substitutes the style token, so adding styles never
invalidates the cache. Tokens are cached per file content (sha256) and tokenizer fingerprint
in a token store of a few large append-only shards, `cache/store-<fingerprint>/` (store.py),
memory-mapped for training; `cache/index.json` lists the corpus: each file's path, style,
sha256 and where its tokens are. A cache of the old layout (one .npy per piece under
`cache/tokens/`) is moved into the store the first time it is read.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from .atomic import write_text_atomic
from .errors import ComposerError, ScoreError
from .load import SUPPORTED_SUFFIXES, load_score
from .store import TOKEN_DTYPE, StoreReader, StoreWriter, store_name
from .tokenizer import Tokenizer

INDEX_VERSION = 2  # 1: one .npy per piece under cache/tokens (converted on reading)
INDEX_NAME = "index.json"


# ============================================================================ discovery


@dataclass
class Discovery:
    files: list[tuple[Path, str | None]] = field(default_factory=list)  # (path, style)
    warnings: list[str] = field(default_factory=list)

    @property
    def styles(self) -> dict[str, int]:
        return dict(sorted(Counter(s for _, s in self.files if s is not None).items()))


def _music_files(folder: Path) -> list[Path]:
    """Supported files under `folder`, recursively, hidden files and folders skipped, sorted.
    Symlinked folders are followed (a corpus of links to your music), each real folder once."""
    out, visited = [], {os.path.realpath(folder)}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        keep = []
        for d in dirnames:
            real = os.path.realpath(os.path.join(dirpath, d))
            if not d.startswith(".") and real not in visited:  # no link loops, no folder twice
                visited.add(real)
                keep.append(d)
        dirnames[:] = keep
        out += [Path(dirpath, f) for f in filenames
                if not f.startswith(".") and Path(f).suffix.lower() in SUPPORTED_SUFFIXES]
    return sorted(out, key=lambda p: p.relative_to(folder).parts)


def discover(roots, style: str | None = None) -> Discovery:
    """Every music file under `roots` (folders or single files) with its style label."""
    roots = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)
    found, seen = Discovery(), set()

    def add(path: Path, label: str | None):
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            found.files.append((path.absolute(), label))

    for root in map(Path, roots):
        if root.is_file():  # named explicitly: kept whatever its suffix, load_score says why if bad
            add(root, style)
            continue
        if not root.is_dir():
            raise ComposerError(f"{root}: no such folder")
        files = _music_files(root)
        if style is not None:
            for f in files:
                add(f, style)
            continue
        top = [f for f in files if f.parent == root]
        nested = [f for f in files if f.parent != root]
        for f in nested:
            add(f, f.relative_to(root).parts[0])
        if top and nested:
            found.warnings.append(f"{_n(len(top), 'file')} directly in {root} "
                                  f"{'has' if len(top) == 1 else 'have'} no style "
                                  "(put them in a sub-folder named after their style)")
        elif top:
            found.warnings.append(f"{_n(len(top), 'file')} in {root} {'has' if len(top) == 1 else 'have'} "
                                  "no style (name one with --style, or put them in sub-folders "
                                  "named after their style)")
        for f in top:
            add(f, None)
    return found


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# ============================================================================ tokenising

_TOKENIZER: Tokenizer | None = None  # per worker process, set by _init_worker
_KNOWN: frozenset = frozenset()  # sha256 of the pieces the store holds already


def _init_worker(tokenizer_dict: dict, known=frozenset()) -> None:
    global _TOKENIZER, _KNOWN
    _TOKENIZER, _KNOWN = Tokenizer.from_dict(tokenizer_dict), known


def _process(job: tuple[int, str]) -> dict:
    """Hash one file; unless the store holds it, load + encode it: {"ids", "n_notes", "seconds"}
    (the parent process appends the tokens to the store).

    Never raises (short of a crash of the interpreter): any failure becomes a skip reason, but
    running out of file descriptors (no fault of the file) becomes a `fatal` one.
    """
    i, path = job[0], job[1]
    out = {"i": i, "path": path}
    try:
        data = Path(path).read_bytes()
        if not data:
            return {**out, "reason": "empty file"}
        sha = hashlib.sha256(data).hexdigest()
        out["sha256"] = sha
        if sha in _KNOWN:
            return {**out, "cached": True}
        score = load_score(path)
        if score.note_count == 0:
            return {**out, "reason": "no notes"}
        ids = np.asarray(_TOKENIZER.encode(score, style=None), dtype=TOKEN_DTYPE)
        return {**out, "ids": ids, "n_notes": int(score.note_count), "seconds": round(float(score.seconds()), 3)}
    except ScoreError as e:
        return {**out, "reason": e.reason}
    except OSError as e:
        if e.errno in (errno.EMFILE, errno.ENFILE):  # the machine's limit, not a bad file: stop
            return {**out, "fatal": f"{path}: cannot open ({e.strerror}); raise the open-files limit (ulimit -n)"}
        return {**out, "reason": f"cannot read file ({e.strerror or e})"}
    except (Exception, SystemExit) as e:  # a corrupt file must never take the pool down
        return {**out, "reason": f"internal error: {type(e).__name__}: {e}"}


@dataclass
class CorpusSummary:
    used: int
    skipped: list[tuple[str, str]]
    cached: int
    tokens: int
    styles: dict[str, int]
    unstyled: int = 0
    warnings: list[str] = field(default_factory=list)
    index_path: Path | None = None

    def format(self) -> str:
        styles = [f"{s} {n}" for s, n in self.styles.items()]
        styles += [f"no style {self.unstyled}"] if self.unstyled else []
        lines = [f"{_n(self.used, 'file')} used ({self.cached} from cache), {len(self.skipped)} skipped, "
                 f"{self.tokens} tokens; styles: {', '.join(styles) or 'none'}"]
        lines += [f"  skipped {path}: {reason}" for path, reason in self.skipped]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def tokenize_corpus(roots, cache_dir, tokenizer: Tokenizer, style: str | None = None,
                    workers: int | None = None, progress: bool = True) -> CorpusSummary:
    """Tokenise every music file under `roots` into the store in `cache_dir` (store.py) and
    write cache_dir/index.json. Files the store holds (same content) are only hashed."""
    found = discover(roots, style)
    if not found.files:
        shown = ", ".join(map(str, [roots] if isinstance(roots, (str, os.PathLike)) else roots))
        raise ComposerError(f"no music files ({' '.join(SUPPORTED_SUFFIXES)}) found in {shown}")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = tokenizer.config.fingerprint()
    jobs = [(i, str(path)) for i, (path, _) in enumerate(found.files)]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))

    from tqdm import tqdm
    bar = tqdm(total=len(jobs), unit="file", desc="tokenising",
               disable=not progress or not sys.stderr.isatty())
    results: list[dict] = [{}] * len(jobs)
    rows: list = [None] * len(jobs)
    with StoreWriter(cache_dir / store_name(fingerprint)) as store, bar:
        _convert_per_file_cache(cache_dir, fingerprint, store)
        known = frozenset(bytes(s).hex() for s in store.catalog["sha"])
        if workers == 1:
            _init_worker(tokenizer.to_dict(), known)
            done = map(_process, jobs)
        else:
            chunk = max(1, min(16, len(jobs) // (workers * 8)))
            pool = Pool(workers, initializer=_init_worker, initargs=(tokenizer.to_dict(), known))
            done = pool.imap(_process, jobs, chunksize=chunk)  # in file order: the same store whatever the workers
        try:
            for r in done:
                if "ids" in r:
                    rows[r["i"]] = store.add(r["sha256"], r.pop("ids"), r["n_notes"], r["seconds"])
                elif r.get("cached"):
                    rows[r["i"]] = store.get(r["sha256"])
                results[r["i"]] = r
                bar.update()
        finally:
            if workers > 1:
                pool.terminate()

    fatal = [r["fatal"] for r in results if "fatal" in r]
    if fatal:
        raise ComposerError(fatal[0])
    files, skipped = [], []
    for (path, label), r, row in zip(found.files, results, rows):
        if "reason" in r:
            skipped.append({"path": str(path), "reason": r["reason"]})
        else:
            files.append({"path": str(path), "style": label, "sha256": r["sha256"], "shard": int(row["shard"]),
                          "offset": int(row["offset"]), "n_tokens": int(row["length"]),
                          "n_notes": int(row["n_notes"]), "seconds": round(float(row["seconds"]), 3)})
    styles = dict(sorted(Counter(f["style"] for f in files if f["style"] is not None).items()))
    index = {"version": INDEX_VERSION, "tokenizer": tokenizer.to_dict(), "fingerprint": fingerprint,
             "store": store_name(fingerprint), "files": files, "skipped": skipped, "styles": styles}
    write_text_atomic(cache_dir / INDEX_NAME, json.dumps(index, indent=1))
    return CorpusSummary(used=len(files), skipped=[(s["path"], s["reason"]) for s in skipped],
                         cached=sum(bool(r.get("cached")) for r in results if "reason" not in r),
                         tokens=sum(f["n_tokens"] for f in files), styles=styles,
                         unstyled=sum(f["style"] is None for f in files),
                         warnings=found.warnings, index_path=cache_dir / INDEX_NAME)


# ---------------------------------------------------------------------------- the per-file cache of old

OLD_TOKENS = "tokens"  # cache/tokens/<sha[:2]>/<sha>-<fingerprint>.npy + .json: the cache before the store


def _convert_per_file_cache(cache_dir: Path, fingerprint: str, store: StoreWriter) -> int:
    """Move the pieces of an old per-file cache (this fingerprint's) into the store, then remove
    it, saying so in one line. The number of pieces moved."""
    old = cache_dir / OLD_TOKENS
    if not old.is_dir():
        return 0
    moved = 0
    for npy in sorted(old.glob(f"*/*-{fingerprint}.npy")):
        try:
            meta = json.loads(npy.with_suffix(".json").read_text())
            store.add(npy.name.split("-")[0], np.load(npy, allow_pickle=False), meta["n_notes"], meta["seconds"])
            moved += 1
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged entry: that file is tokenised again
    store.commit()
    shutil.rmtree(old, ignore_errors=True)
    print(f"{cache_dir}: moved the per-file token cache ({_n(moved, 'piece')}) into the sharded store "
          f"{store.folder.name}/", flush=True)
    return moved


# ============================================================================ reading back


@dataclass
class CorpusFile:
    path: str
    style: str | None
    sha256: str
    shard: int  # where its tokens are in the store: shard number and offset (tokens)
    offset: int
    n_tokens: int
    n_notes: int
    seconds: float


@dataclass
class CorpusIndex:
    cache_dir: Path
    tokenizer: Tokenizer
    fingerprint: str
    files: list[CorpusFile]
    skipped: list[tuple[str, str]]
    styles: dict[str, int]
    store: str = ""  # the store folder in cache_dir

    def __post_init__(self):
        self._reader = StoreReader(self.cache_dir / (self.store or store_name(self.fingerprint)))

    def __len__(self) -> int:
        return len(self.files)

    @property
    def store_dir(self) -> Path:
        return self._reader.folder

    def open_tokens(self, i: int) -> np.ndarray:
        """Tokens of file `i` (encoded with no style, int16): a read-only view into its shard's
        memory map. One map per shard (a handful of file descriptors, whatever `ulimit -n`), and
        only the pages a window reads become resident."""
        f = self.files[i]
        return self._reader.tokens(f.shard, f.offset, f.n_tokens)

    def read_tokens(self, i: int) -> np.ndarray:
        """Tokens of file `i` as an in-memory copy, read without mapping (for one pass over a corpus)."""
        f = self.files[i]
        return self._reader.read(f.shard, f.offset, f.n_tokens)

    def iter_tokens(self):
        """(CorpusFile, tokens) for every file, in index order (copies, read without mapping)."""
        for i, f in enumerate(self.files):
            yield f, self.read_tokens(i)

def style_instruments(index: CorpusIndex) -> dict[str, list[int]]:
    """Per style, the track keys (GM programs 0-127, 128 for drums) its files play. A model
    stores this in its config, and `compose generate --style S` keeps to S's instruments
    unless --instruments asks for others: pop stays flute and piano, chorales four strings."""
    v = index.tokenizer.vocab
    found: dict[str, set[int]] = {}
    for f, tokens in index.iter_tokens():
        if f.style is not None:
            programs = np.unique(tokens[(tokens >= v.program) & (tokens < v.pitch)]) - v.program
            found.setdefault(f.style, set()).update(int(k) for k in programs)
    return {style: sorted(keys) for style, keys in sorted(found.items())}


def load_index(cache_dir) -> CorpusIndex:
    """Read `cache_dir/index.json` back; ComposerError if it is missing or unusable. An index
    of the old per-file cache is converted (its pieces moved into the store) on the way."""
    cache_dir = Path(cache_dir)
    path = cache_dir / INDEX_NAME
    if not path.is_file():
        raise ComposerError(f"{path}: no corpus index (tokenise the corpus first)")
    try:
        d = json.loads(path.read_text())
        if d.get("version") == 1:
            d = _upgrade_index(cache_dir, d)
        if d.get("version") != INDEX_VERSION:
            raise ValueError(f"unsupported index version {d.get('version')!r}")
        tok = Tokenizer.from_dict(d["tokenizer"])
        if d["fingerprint"] != tok.config.fingerprint():
            raise ValueError("fingerprint does not match the stored tokenizer")
        files = [CorpusFile(**f) for f in d["files"]]
        skipped = [(s["path"], s["reason"]) for s in d["skipped"]]
        return CorpusIndex(cache_dir, tok, d["fingerprint"], files, skipped, dict(d["styles"]), d["store"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ComposerError(f"{path}: corrupt corpus index ({type(e).__name__}: {e}); "
                            "tokenise the corpus again") from None


def _upgrade_index(cache_dir: Path, d: dict) -> dict:
    """A version-1 index (one .npy per piece) as a version-2 one: its pieces moved into the store
    and index.json rewritten. ComposerError when a piece is missing from both."""
    fp = d["fingerprint"]
    with StoreWriter(cache_dir / store_name(fp)) as store:
        _convert_per_file_cache(cache_dir, fp, store)
        files = []
        for f in d["files"]:
            row = store.get(f["sha256"])
            if row is None:
                raise ComposerError(f"{cache_dir}: the token cache lacks {f['path']}; tokenise the corpus again")
            files.append({k: f[k] for k in ("path", "style", "sha256", "n_tokens", "n_notes", "seconds")}
                         | {"shard": int(row["shard"]), "offset": int(row["offset"])})
    d = {**d, "version": INDEX_VERSION, "store": store_name(fp), "files": files}
    write_text_atomic(cache_dir / INDEX_NAME, json.dumps(d, indent=1))
    return d
