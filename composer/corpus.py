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
in `cache/tokens/<sha[:2]>/<sha>-<fingerprint>.npy`, with a `.json` beside it holding the
file's note count and length; `cache/index.json` lists the corpus.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from .atomic import atomic_path, write_text_atomic
from .errors import ComposerError, ScoreError
from .load import SUPPORTED_SUFFIXES, load_score
from .tokenizer import Tokenizer

INDEX_VERSION = 1
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


def _init_worker(tokenizer_dict: dict) -> None:
    global _TOKENIZER
    _TOKENIZER = Tokenizer.from_dict(tokenizer_dict)


def _cache_name(sha: str, fingerprint: str) -> str:
    return f"tokens/{sha[:2]}/{sha}-{fingerprint}.npy"


def _process(job: tuple[int, str, str]) -> dict:
    """Hash one file, then take its tokens from the cache or load + encode + cache them.

    Never raises (short of a crash of the interpreter): any failure becomes a skip reason, but
    running out of file descriptors (no fault of the file) becomes a `fatal` one.
    """
    i, path, cache_dir = job
    out = {"i": i, "path": path}
    try:
        data = Path(path).read_bytes()
        if not data:
            return {**out, "reason": "empty file"}
        tok = _TOKENIZER
        fp = tok.config.fingerprint()
        sha = hashlib.sha256(data).hexdigest()
        rel = _cache_name(sha, fp)
        npy, meta_path = Path(cache_dir, rel), Path(cache_dir, rel).with_suffix(".json")
        out.update(sha256=sha, tokens=rel)
        if npy.is_file() and meta_path.is_file():
            try:
                return {**out, **json.loads(meta_path.read_text()), "cached": True}
            except (OSError, ValueError):
                pass  # a damaged sidecar: tokenise again
        score = load_score(path)
        if score.note_count == 0:
            return {**out, "reason": "no notes"}
        ids = np.asarray(tok.encode(score, style=None), dtype=np.int32)
        meta = {"n_tokens": int(len(ids)), "n_notes": int(score.note_count),
                "seconds": round(float(score.seconds()), 3)}
        with atomic_path(npy) as tmp, open(tmp, "wb") as f:
            np.save(f, ids)
        write_text_atomic(meta_path, json.dumps(meta))
        return {**out, **meta, "cached": False}
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
    """Tokenise every music file under `roots` into `cache_dir` and write its index.json."""
    found = discover(roots, style)
    if not found.files:
        shown = ", ".join(map(str, [roots] if isinstance(roots, (str, os.PathLike)) else roots))
        raise ComposerError(f"no music files ({' '.join(SUPPORTED_SUFFIXES)}) found in {shown}")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(i, str(path), str(cache_dir)) for i, (path, _) in enumerate(found.files)]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))

    from tqdm import tqdm
    bar = tqdm(total=len(jobs), unit="file", desc="tokenising",
               disable=not progress or not sys.stderr.isatty())
    results: list[dict] = [{}] * len(jobs)
    with bar:
        if workers == 1:
            _init_worker(tokenizer.to_dict())
            for r in map(_process, jobs):
                results[r["i"]] = r
                bar.update()
        else:
            chunk = max(1, min(16, len(jobs) // (workers * 8)))
            with Pool(workers, initializer=_init_worker, initargs=(tokenizer.to_dict(),)) as pool:
                for r in pool.imap_unordered(_process, jobs, chunksize=chunk):
                    results[r["i"]] = r
                    bar.update()

    fatal = [r["fatal"] for r in results if "fatal" in r]
    if fatal:
        raise ComposerError(fatal[0])
    files, skipped = [], []
    for (path, label), r in zip(found.files, results):
        if "reason" in r:
            skipped.append({"path": str(path), "reason": r["reason"]})
        else:
            files.append({"path": str(path), "style": label, **{k: r[k] for k in
                          ("sha256", "tokens", "n_tokens", "n_notes", "seconds")}})
    styles = dict(sorted(Counter(f["style"] for f in files if f["style"] is not None).items()))
    index = {"version": INDEX_VERSION, "tokenizer": tokenizer.to_dict(),
             "fingerprint": tokenizer.config.fingerprint(),
             "files": files, "skipped": skipped, "styles": styles}
    write_text_atomic(cache_dir / INDEX_NAME, json.dumps(index, indent=1))
    return CorpusSummary(used=len(files), skipped=[(s["path"], s["reason"]) for s in skipped],
                         cached=sum(bool(r.get("cached")) for r in results if "reason" not in r),
                         tokens=sum(f["n_tokens"] for f in files), styles=styles,
                         unstyled=sum(f["style"] is None for f in files),
                         warnings=found.warnings, index_path=cache_dir / INDEX_NAME)


# ============================================================================ reading back


@dataclass
class CorpusFile:
    path: str
    style: str | None
    sha256: str
    tokens: str  # path of the .npy relative to the cache folder
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

    def __len__(self) -> int:
        return len(self.files)

    def open_tokens(self, i: int) -> np.ndarray:
        """Tokens of file `i` (encoded with no style), read into memory: a piece is a few
        thousand int32 tokens, and a memory map would hold a file descriptor open per piece
        (a corpus larger than `ulimit -n` could not be opened at once)."""
        path = self.cache_dir / self.files[i].tokens
        try:
            return np.load(path)
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE):
                raise ComposerError(f"{path}: cannot open ({e.strerror}); "
                                    "raise the open-files limit (ulimit -n)") from None
            raise ComposerError(f"{path}: cached tokens missing or unreadable ({e.strerror or e}); "
                                "tokenise the corpus again") from None
        except ValueError as e:
            raise ComposerError(f"{path}: cached tokens corrupt ({e}); tokenise the corpus again") from None

    def iter_tokens(self):
        """(CorpusFile, tokens) for every file, in index order."""
        for i, f in enumerate(self.files):
            yield f, self.open_tokens(i)


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
    """Read `cache_dir/index.json` back; ComposerError if it is missing or unusable."""
    cache_dir = Path(cache_dir)
    path = cache_dir / INDEX_NAME
    if not path.is_file():
        raise ComposerError(f"{path}: no corpus index (tokenise the corpus first)")
    try:
        d = json.loads(path.read_text())
        if d.get("version") != INDEX_VERSION:
            raise ValueError(f"unsupported index version {d.get('version')!r}")
        tok = Tokenizer.from_dict(d["tokenizer"])
        if d["fingerprint"] != tok.config.fingerprint():
            raise ValueError("fingerprint does not match the stored tokenizer")
        files = [CorpusFile(**f) for f in d["files"]]
        skipped = [(s["path"], s["reason"]) for s in d["skipped"]]
        return CorpusIndex(cache_dir, tok, d["fingerprint"], files, skipped, dict(d["styles"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ComposerError(f"{path}: corrupt corpus index ({type(e).__name__}: {e}); "
                            "tokenise the corpus again") from None
