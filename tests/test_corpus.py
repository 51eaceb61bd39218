"""The corpus pipeline: discovery and style labels, bad files skipped, the token cache, workers."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from composer import corpus
from composer.corpus import discover, load_index, style_instruments, tokenize_corpus
from composer.errors import ComposerError
from composer.load import load_score
from composer.midi_io import midi_bytes, write_midi
from composer.score import Score, Track
from composer.tokenizer import Tokenizer


def tiny_score(seed: int = 0, n: int = 8) -> Score:
    """A short piano line; `seed` changes the pitches so files differ in content."""
    rng = np.random.default_rng(seed)
    notes = np.array([[i * 480, 480, 60 + int(rng.integers(0, 12)), 80] for i in range(n)], dtype=np.int64)
    return Score(tpq=480, tracks=[Track(program=0, notes=notes)], end=n * 480)


def write(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_midi(tiny_score(seed), path)
    return path


@pytest.fixture
def styled(tmp_path) -> Path:
    """root/jazz (2 files, one nested), root/pop (1 file), plus hidden and unsupported files."""
    root = tmp_path / "corpus"
    write(root / "jazz" / "a.mid", 1)
    write(root / "jazz" / "deep" / "b.MID", 2)
    write(root / "pop" / "c.midi", 3)
    write(root / ".hidden" / "d.mid", 4)
    write(root / "pop" / ".e.mid", 5)
    (root / "pop" / "notes.txt").write_text("not music")
    return root


@pytest.fixture
def tok() -> Tokenizer:
    return Tokenizer()


def run(roots, cache, tok, **kw):
    return tokenize_corpus(roots, cache, tok, progress=False, **{"workers": 1, **kw})


# ---------------------------------------------------------------------------- discovery


def test_styles_come_from_first_sub_folder(styled):
    found = discover(styled)
    assert [(p.relative_to(styled).as_posix(), s) for p, s in found.files] == [
        ("jazz/a.mid", "jazz"), ("jazz/deep/b.MID", "jazz"), ("pop/c.midi", "pop")]
    assert found.styles == {"jazz": 2, "pop": 1}
    assert found.warnings == []


def test_symlinked_style_folders_are_followed_once(styled, tmp_path):
    links = tmp_path / "links"
    links.mkdir()
    (links / "swing").symlink_to(styled / "jazz")  # a corpus of links to music kept elsewhere
    (styled / "jazz" / "deep" / "loop").symlink_to(styled / "jazz")  # a link loop
    found = discover(links)
    assert sorted(p.name for p, _ in found.files) == ["a.mid", "b.MID"]
    assert found.styles == {"swing": 2}


def test_style_option_labels_a_flat_folder(tmp_path):
    for i in range(3):
        write(tmp_path / "flat" / f"{i}.mid", i)
    found = discover(tmp_path / "flat", style="baroque")
    assert [s for _, s in found.files] == ["baroque"] * 3 and found.warnings == []
    plain = discover(tmp_path / "flat")
    assert [s for _, s in plain.files] == [None] * 3
    assert len(plain.warnings) == 1 and "3 files" in plain.warnings[0]


def test_files_directly_in_a_styled_root_warned_once_with_count(styled):
    for i in range(3):
        write(styled / f"loose{i}.mid", 10 + i)
    found = discover(styled)
    assert sum(s is None for _, s in found.files) == 3
    assert found.warnings == [f"3 files directly in {styled} have no style "
                              "(put them in a sub-folder named after their style)"]


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(ComposerError, match="no such folder"):
        discover(tmp_path / "nope")


# ---------------------------------------------------------------------------- tokenising


def test_bad_files_skipped_with_reason_good_ones_used(styled, tmp_path, tok):
    bad = styled / "pop"
    (bad / "text.mid").write_text("hello, I am not a MIDI file\n")
    data = midi_bytes(tiny_score(9))
    (bad / "truncated.mid").write_bytes(data[: len(data) // 2])
    (bad / "empty.mid").write_bytes(b"")
    summary = run(styled, tmp_path / "cache", tok)
    assert summary.used == 3 and summary.cached == 0
    reasons = {Path(p).name: r for p, r in summary.skipped}
    assert set(reasons) == {"text.mid", "truncated.mid", "empty.mid"}
    assert reasons["empty.mid"] == "empty file"
    assert "not a MIDI file" in reasons["text.mid"]
    assert "truncated" in reasons["truncated.mid"]
    text = summary.format()
    assert text.splitlines()[0].startswith("3 files used (0 from cache), 3 skipped, ")
    assert "styles: jazz 2, pop 1" in text and "  skipped " in text
    index = json.loads((tmp_path / "cache" / "index.json").read_text())
    assert index["styles"] == {"jazz": 2, "pop": 1} and len(index["skipped"]) == 3


def test_unexpected_exception_is_skipped_not_fatal(styled, tmp_path, tok, monkeypatch):
    real = corpus.load_score

    def flaky(path):
        if Path(path).name == "a.mid":
            raise RuntimeError("boom")
        return real(path)

    monkeypatch.setattr(corpus, "load_score", flaky)
    summary = run(styled, tmp_path / "cache", tok)
    assert summary.used == 2
    assert [r for _, r in summary.skipped] == ["internal error: RuntimeError: boom"]


def test_second_run_uses_cache_and_edited_file_is_retokenised(styled, tmp_path, tok):
    cache = tmp_path / "cache"
    first = run(styled, cache, tok)
    assert (first.used, first.cached) == (3, 0)
    second = run(styled, cache, tok)
    assert (second.used, second.cached) == (3, 3)
    write(styled / "pop" / "c.midi", 99)  # edited: new content
    third = run(styled, cache, tok)
    assert (third.used, third.cached) == (3, 2)
    entry = next(f for f in load_index(cache).files if f.path.endswith("c.midi"))
    assert entry.sha256 == hashlib.sha256((styled / "pop" / "c.midi").read_bytes()).hexdigest()


def test_cached_tokens_equal_encode_of_load_score(styled, tmp_path, tok):
    cache = tmp_path / "cache"
    run(styled, cache, tok)
    index = load_index(cache)
    assert len(index) == 3 and index.styles == {"jazz": 2, "pop": 1}
    assert index.fingerprint == tok.config.fingerprint()
    for i, (f, ids) in enumerate(index.iter_tokens()):
        assert ids.base is None and ids.dtype == np.int16  # a copy, read without mapping
        np.testing.assert_array_equal(index.open_tokens(i), ids)  # the memory-mapped view
        expected = tok.encode(load_score(f.path))
        np.testing.assert_array_equal(ids, expected)
        assert f.n_tokens == len(expected) and f.n_notes == 8 and f.seconds > 0
        assert tok.vocab.style_name(ids[1]) is None  # encoded with no style


def test_style_instruments_are_the_track_keys_each_style_plays(styled, tmp_path, tok):
    band = tiny_score(7)
    band.tracks += [Track(program=33, notes=band.tracks[0].notes - [0, 0, 24, 0]),
                    Track(program=0, is_drum=True, notes=band.tracks[0].notes * [1, 1, 0, 1] + [0, 0, 36, 0])]
    write_midi(band, styled / "jazz" / "band.mid")
    run(styled, tmp_path / "cache", tok)
    assert style_instruments(load_index(tmp_path / "cache")) == {"jazz": [0, 33, 128], "pop": [0]}


def test_two_workers_give_the_same_index_as_one(styled, tmp_path, tok):
    (styled / "jazz" / "junk.mid").write_text("junk")
    for i in range(6):
        write(styled / "pop" / f"more{i}.mid", 20 + i)
    run(styled, tmp_path / "c1", tok, workers=1)
    summary = run(styled, tmp_path / "c2", tok, workers=2)
    assert summary.used == 9 and len(summary.skipped) == 1
    one = (tmp_path / "c1" / "index.json").read_text()
    two = (tmp_path / "c2" / "index.json").read_text()
    assert one == two


def test_load_index_missing_or_corrupt(tmp_path):
    with pytest.raises(ComposerError, match="no corpus index"):
        load_index(tmp_path)
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(ComposerError, match="corrupt corpus index"):
        load_index(tmp_path)


def test_no_music_files_is_an_error(tmp_path, tok):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ComposerError, match="no music files"):
        run(tmp_path / "empty", tmp_path / "cache", tok)


# ---------------------------------------------------------------------------- the open-files limit


@contextmanager
def out_of_file_descriptors():
    """Every file descriptor this process may open is taken (a low RLIMIT_NOFILE, filled with
    /dev/null); both are given back afterwards."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(fd for fd in range(4096) if fd_open(fd)) + 16, hard))
    try:
        while True:
            try:
                held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError as e:
                assert e.errno == errno.EMFILE
                break
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_running_out_of_file_descriptors_is_not_called_a_corrupt_cache(styled, tmp_path, tok):
    cache = tmp_path / "cache"
    run(styled, cache, tok)
    index = load_index(cache)
    corpus._init_worker(tok.to_dict())
    with out_of_file_descriptors():
        with pytest.raises(ComposerError) as e:
            index.open_tokens(0)
        processed = corpus._process((0, str(styled / "jazz" / "a.mid")))
    message = str(e.value)
    shard = index.store_dir / "shard-000.tok"
    assert message.startswith(f"{shard}: cannot open (Too many open files)")
    assert "ulimit -n" in message and "corrupt" not in message and "tokenise" not in message
    assert "reason" not in processed and "open-files limit" in processed["fatal"]  # not a skipped file
    assert index.open_tokens(0).tolist() == tok.encode(load_score(index.files[0].path)).tolist()


def test_a_fatal_file_error_stops_tokenising_without_writing_an_index(styled, tmp_path, tok, monkeypatch):
    monkeypatch.setattr(corpus, "_process", lambda job: {"i": job[0], "path": job[1],
                                                         "fatal": f"{job[1]}: cannot open (Too many open files)"})
    with pytest.raises(ComposerError, match=r"a\.mid: cannot open \(Too many open files\)"):
        run(styled, tmp_path / "cache", tok)
    assert not (tmp_path / "cache" / "index.json").exists()
