"""The replay file a fine-tune rehearses: written, read back, refused when it does not fit."""

import numpy as np
import pytest

from composer.errors import ComposerError


def test_replay_file_checks(tmp_path):
    from composer.training.replay import REPLAY_FILE, load_replay, save_replay

    assert load_replay(tmp_path, "abc") is None  # no file: nothing to rehearse
    save_replay(tmp_path, np.arange(12, dtype=np.int16).reshape(2, 6), 1, "abc")
    windows, inherited = load_replay(tmp_path, "abc")
    assert windows.tolist() == [list(range(6)), list(range(6, 12))] and inherited == 1
    assert load_replay(tmp_path, "other tokenizer") is None  # other token ids: unusable
    (tmp_path / REPLAY_FILE).write_bytes(b"not a safetensors file")
    with pytest.raises(ComposerError, match="replay"):
        load_replay(tmp_path, "abc")
