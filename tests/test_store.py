"""The sharded token store: pieces in a few append-only shards, memory-mapped for reading; the
content-hash cache across runs; a kill mid-append; the old per-file cache converted."""

from __future__ import annotations

import json
import mmap
import os

import numpy as np
import pytest

from composer import store
from composer.corpus import load_index, tokenize_corpus
from composer.load import load_score
from composer.midi_io import write_midi
from composer.score import Score, Track
from composer.tokenizer import Tokenizer


def write(path, seed: int = 0):
    rng = np.random.default_rng(seed)
    notes = np.array([[i * 480, 480, 60 + int(rng.integers(0, 12)), 80] for i in range(8)], dtype=np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_midi(Score(tpq=480, tracks=[Track(program=0, notes=notes)], end=8 * 480), path)
    return path


@pytest.fixture
def tok() -> Tokenizer:
    return Tokenizer()


@pytest.fixture
def many(tmp_path):
    root = tmp_path / "corpus"
    for i in range(12):
        write(root / ("jazz" if i % 2 else "pop") / f"f{i:02d}.mid", i)
    return root


def run(root, cache, tok, **kw):
    return tokenize_corpus(root, cache, tok, progress=False, **{"workers": 1, **kw})


def shards(cache):
    return sorted(p.name for p in cache.glob("store-*/shard-*.tok"))


def test_pieces_go_into_few_shards_and_read_back_as_encoded(many, tmp_path, tok, monkeypatch):
    monkeypatch.setattr(store, "SHARD_BYTES", 400)  # a few pieces a shard
    cache = tmp_path / "cache"
    run(many, cache, tok, workers=2)
    index = load_index(cache)
    assert 2 <= len(shards(cache)) < len(index) and not (cache / "tokens").exists()
    assert len(list(cache.rglob("*.npy"))) == 1  # the catalog, no file per piece
    for i, f in enumerate(index.files):
        ids = index.open_tokens(i)
        base = ids
        while isinstance(base, np.ndarray):
            base = base.base
        base = base.obj if isinstance(base, memoryview) else base
        assert isinstance(base, mmap.mmap) and not ids.flags.writeable  # a view into the map
        np.testing.assert_array_equal(ids, tok.encode(load_score(f.path)))
    assert len(index._reader._maps) == len(shards(cache))  # one map per shard, not per piece


def test_rerun_only_hashes_and_an_edit_appends(many, tmp_path, tok):
    cache = tmp_path / "cache"
    run(many, cache, tok)
    (shard,) = cache.glob("store-*/shard-000.tok")
    before = shard.read_bytes()
    assert run(many, cache, tok).cached == 12 and shard.read_bytes() == before
    write(many / "pop" / "f00.mid", 99)
    summary = run(many, cache, tok)
    assert (summary.used, summary.cached) == (12, 11)
    after = shard.read_bytes()
    assert after[:len(before)] == before and len(after) > len(before)  # append-only
    index = load_index(cache)
    i = next(i for i, f in enumerate(index.files) if f.path.endswith("f00.mid"))
    np.testing.assert_array_equal(index.open_tokens(i), tok.encode(load_score(index.files[i].path)))


def test_bytes_a_killed_writer_left_are_cut_off(many, tmp_path, tok):
    cache = tmp_path / "cache"
    run(many, cache, tok)
    (shard,) = cache.glob("store-*/shard-000.tok")
    good = shard.stat().st_size
    with open(shard, "ab") as f:  # a kill after appending, before the catalog was replaced
        f.write(b"\x07" * 1000)
    write(many / "pop" / "new.mid", 123)
    run(many, cache, tok)
    index = load_index(cache)
    new = next(i for i, f in enumerate(index.files) if f.path.endswith("new.mid"))
    assert index.files[new].offset * 2 == good  # appended where the catalog ended
    np.testing.assert_array_equal(index.open_tokens(new), tok.encode(load_score(index.files[new].path)))


def test_the_old_per_file_cache_is_moved_into_the_store(many, tmp_path, tok, capsys):
    """A cache written before the store: cache/tokens/<sha[:2]>/<sha>-<fp>.npy + .json, index v1."""
    cache = tmp_path / "cache"
    run(many, cache, tok)
    index = load_index(cache)
    fp = tok.config.fingerprint()
    old_files = []
    for i, f in enumerate(index.files):
        rel = f"tokens/{f.sha256[:2]}/{f.sha256}-{fp}.npy"
        (cache / rel).parent.mkdir(parents=True, exist_ok=True)
        np.save(cache / rel, index.read_tokens(i).astype(np.int32))
        (cache / rel).with_suffix(".json").write_text(json.dumps({"n_tokens": f.n_tokens, "n_notes": f.n_notes,
                                                                  "seconds": f.seconds}))
        old_files.append({"path": f.path, "style": f.style, "sha256": f.sha256, "tokens": rel,
                          "n_tokens": f.n_tokens, "n_notes": f.n_notes, "seconds": f.seconds})
    expected = [index.read_tokens(i) for i in range(len(index))]
    d = json.loads((cache / "index.json").read_text())
    v1 = {k: d[k] for k in ("tokenizer", "fingerprint", "skipped", "styles")} | {"version": 1, "files": old_files}
    for s in cache.glob("store-*"):
        for p in s.iterdir():
            p.unlink()
        s.rmdir()

    capsys.readouterr()
    (cache / "index.json").write_text(json.dumps(v1))
    converted = load_index(cache)  # e.g. `evaluate` on an old run: converted on reading
    assert capsys.readouterr().out.count("\n") == 1 and not (cache / "tokens").exists()
    assert json.loads((cache / "index.json").read_text())["version"] == 2
    for i, ids in enumerate(expected):
        np.testing.assert_array_equal(converted.open_tokens(i), ids)

    # and by tokenising: the old pieces count as cached
    for s in cache.glob("store-*"):
        for p in s.iterdir():
            p.unlink()
        s.rmdir()
    for f, ids in zip(old_files, expected):
        (cache / f["tokens"]).parent.mkdir(parents=True, exist_ok=True)
        np.save(cache / f["tokens"], ids.astype(np.int32))
        (cache / f["tokens"]).with_suffix(".json").write_text(json.dumps({"n_notes": f["n_notes"], "seconds": 1.0}))
    summary = run(many, cache, tok)
    assert summary.cached == 12 and "moved the per-file token cache (12 pieces)" in capsys.readouterr().out


def test_reading_needs_one_descriptor_per_shard_not_per_piece(many, tmp_path, tok):
    resource = pytest.importorskip("resource")
    cache = tmp_path / "cache"
    run(many, cache, tok)
    index = load_index(cache)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(fd for fd in range(4096) if _open(fd)) + 16, hard))
    try:
        while True:  # leave exactly two descriptors free (12 pieces, one shard)
            try:
                held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        os.close(held.pop())
        os.close(held.pop())
        total = sum(int(index.open_tokens(i).sum()) + int(index.read_tokens(i).sum()) for i in range(len(index)))
        assert total > 0
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_a_hash_ending_in_zero_bytes_is_found_again(tmp_path):
    """Kept as raw bytes (numpy's "S" strings would drop trailing NULs)."""
    sha = "ab" * 30 + "0000"
    with store.StoreWriter(tmp_path / "s") as w:
        w.add(sha, np.arange(5), 3, 1.5)
    with store.StoreWriter(tmp_path / "s") as w:
        row = w.get(sha)
        assert row is not None and (int(row["offset"]), int(row["length"]), int(row["n_notes"])) == (0, 5, 3)
        assert w.add(sha, np.arange(9), 1, 1.0)["length"] == 5  # known: not appended again
    assert (tmp_path / "s" / "shard-000.tok").stat().st_size == 10


def test_the_loops_draws_are_numpys_own(many, tmp_path, tok):
    """loop.Draws caches the cumulative piece weights; batches stay those of numpy's choice,
    bit for bit (so runs are what they were), for the plain sampler and the replay mix."""
    from composer.training.loop import Draws
    from composer.training.replay import ReplayMix
    from composer.training.windows import WindowSampler, index_piece

    w = np.random.default_rng(1).random(777)
    w /= w.sum()
    a, b, cdfs = np.random.default_rng(5), np.random.default_rng(5), {}
    for _ in range(2000):
        assert a.choice(777, p=w) == Draws(b, cdfs).choice(777, p=w)
    assert a.random() == b.random() and len(cdfs) == 1

    run(many, tmp_path / "cache", tok)
    index = load_index(tmp_path / "cache")
    pieces = [index_piece(index.open_tokens(i), tok.vocab.style, tok.vocab) for i in range(len(index))]
    sampler = WindowSampler(pieces, tok.vocab, 64, keep_key=0.5)
    mix = ReplayMix(sampler, sampler.fixed_windows(10)[0], 0.5, tok.vocab.style)
    cdfs = {}
    for step in range(50):
        for s in (sampler, mix):
            x1, y1 = s.sample(np.random.default_rng([0, step]), 8)
            x2, y2 = s.sample(Draws(np.random.default_rng([0, step]), cdfs), 8)
            np.testing.assert_array_equal(x1, x2)
            np.testing.assert_array_equal(y1, y2)


def _tokenise_into(args):
    root, cache = args
    return tokenize_corpus(root, cache, Tokenizer(), workers=1, progress=False).used


def test_two_tokenisers_on_one_cache_take_turns(many, tmp_path):
    """The store's lock: two processes tokenising into the same cache at once both succeed,
    and every piece is in the store once."""
    import multiprocessing

    cache = tmp_path / "cache"
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(_tokenise_into, [(str(many), str(cache))] * 2) == [12, 12]
    (folder,) = cache.glob("store-*")
    shas = [bytes(s) for s in store.read_catalog(folder)["sha"]]
    assert len(shas) == len(set(shas)) == 12
    index = load_index(cache)
    for i, f in enumerate(index.files):
        np.testing.assert_array_equal(index.open_tokens(i), Tokenizer().encode(load_score(f.path)))
