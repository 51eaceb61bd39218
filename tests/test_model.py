import json
import math

import numpy as np
import pytest
import torch

from composer.errors import ComposerError
from composer.model import (ARCHS, PRESETS, Cache, ModelConfig, build_model, load_torch_model, load_weights,
                            read_config, save_weights)

V = 96


def tiny(arch, **kw):
    torch.manual_seed(0)
    kw.setdefault("context", 64)
    return build_model(ModelConfig.preset("tiny", arch, vocab_size=V, **kw))


def tokens(B, T, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, V, (B, T), generator=g)


def decode_all(model, seq, prompt_len, chunks=()):
    """Prefill seq[:, :prompt_len], then feed `chunks` sized pieces, then single tokens."""
    logits, cache = model.step(seq[:, :prompt_len])
    out, pos = [logits], prompt_len
    for n in chunks:
        logits, cache = model.step(seq[:, pos:pos + n], cache)
        out.append(logits)
        pos += n
    while pos < seq.shape[1]:
        logits, cache = model.step(seq[:, pos:pos + 1], cache)
        out.append(logits)
        pos += 1
    assert isinstance(cache, Cache) and cache.length == seq.shape[1]
    return torch.cat(out, dim=1)


def test_config_roundtrip_and_validation():
    c = ModelConfig.preset("small", "lstm", vocab_size=300, context=512, dropout=0.2)
    assert ModelConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    with pytest.raises(ValueError):
        ModelConfig(arch="gru")
    with pytest.raises(ValueError):
        ModelConfig(n_embd=100, n_head=3)
    with pytest.raises(ValueError):
        ModelConfig.from_dict({**c.to_dict(), "bogus": 1})
    with pytest.raises(ValueError):
        ModelConfig.preset("huge")


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_shapes_and_initial_loss(arch):
    model = tiny(arch)
    idx = tokens(3, 20)
    logits, loss = model(idx)
    assert logits.shape == (3, 20, V) and loss is None
    _, loss = model(idx, tokens(3, 20, seed=2))
    assert abs(loss.item() - math.log(V)) < 0.3


@pytest.mark.parametrize("arch", ARCHS)
def test_pad_targets_ignored(arch):
    model = tiny(arch).eval()
    idx, tgt = tokens(2, 12), tokens(2, 12, seed=2)
    logits, _ = model(idx)
    masked = tgt.clone()
    masked[:, 6:] = 0  # pad_id
    _, loss = model(idx, masked)
    expected = torch.nn.functional.cross_entropy(logits[:, :6].reshape(-1, V), tgt[:, :6].reshape(-1))
    assert torch.allclose(loss, expected, atol=1e-6)
    masked[:, 6:] = -100  # negative targets are ignored too
    assert torch.allclose(model(idx, masked)[1], expected, atol=1e-6)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("chunks", [(), (5, 3)])
def test_cached_decoding_matches_full_forward(arch, chunks):
    model = tiny(arch).eval()
    seq = tokens(3, 48)
    with torch.no_grad():
        full, _ = model(seq)
    stepped = decode_all(model, seq, prompt_len=13, chunks=chunks)
    assert stepped.shape == full.shape
    torch.testing.assert_close(stepped, full, atol=1e-4, rtol=1e-4)
    # decoding leaves nothing behind that breaks training afterwards
    model(seq, seq)[1].backward()


def test_transformer_cache_fills_to_context_and_no_further():
    model = tiny("transformer", context=32).eval()
    seq = tokens(2, 32)
    with torch.no_grad():
        full, _ = model(seq)
    torch.testing.assert_close(decode_all(model, seq, prompt_len=1), full, atol=1e-4, rtol=1e-4)
    logits, cache = model.step(seq)
    assert model.room(cache) == 0
    with pytest.raises(ValueError, match="context"):
        model.step(seq[:, :1], cache)
    with pytest.raises(ValueError):
        model(tokens(1, 33))
    assert model.room(cache) == 0 and cache.length == 32  # a refused step leaves the cache as it was
    assert tiny("lstm").room(cache) == math.inf


def test_transformer_crop_rewinds():
    model = tiny("transformer").eval()
    seq, alt = tokens(2, 30), tokens(2, 30, seed=5)
    _, cache = model.step(seq[:, :20])
    model.cache_crop(cache, 12)
    logits, cache = model.step(alt[:, 12:18], cache)
    with torch.no_grad():
        full, _ = model(torch.cat([seq[:, :12], alt[:, 12:18]], dim=1))
    torch.testing.assert_close(logits, full[:, 12:], atol=1e-4, rtol=1e-4)
    logits, cache = model.step(seq[:, 5:6], cache, pos=5)  # pos < length rewinds as well
    assert cache.length == 6
    torch.testing.assert_close(logits, full[:, 5:6], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError):
        tiny("lstm").cache_crop(tiny("lstm").step(seq)[1], 3)


@pytest.mark.parametrize("arch", ARCHS)
def test_tiny_model_overfits_repeating_sequence(arch):
    model = tiny(arch).train()
    pattern = torch.tensor([5, 9, 14, 3, 27, 9, 40, 2])
    seq = pattern.repeat(8).unsqueeze(0).repeat(4, 1)  # (4, 64)
    x, y = seq[:, :-1], seq[:, 1:]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(100):
        _, loss = model(x, y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    _, loss = model(x, y)
    assert first > 4.0 and loss.item() < 0.5, (first, loss.item())


@pytest.mark.parametrize("arch", ARCHS)
def test_save_load_roundtrip(arch, tmp_path):
    model = tiny(arch).eval()
    path = tmp_path / "m.safetensors"
    save_weights(model, path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left behind
    assert read_config(path) == model.config
    idx = tokens(2, 16)
    with torch.no_grad():
        ref, _ = model(idx)
        loaded = load_torch_model(path)
        assert torch.equal(loaded(idx)[0], ref)
        other = tiny(arch)
        torch.nn.init.zeros_(other.wte.weight)
        assert torch.equal(load_weights(other.eval(), path)(idx)[0], ref)
    save_weights(model, path)  # overwriting works


def test_load_errors_are_composer_errors(tmp_path):
    path = tmp_path / "m.safetensors"
    save_weights(tiny("transformer"), path)
    with pytest.raises(ComposerError, match="do not fit"):
        load_weights(tiny("lstm"), path)
    with pytest.raises(ComposerError, match="shape"):
        load_weights(build_model(ModelConfig.preset("tiny", vocab_size=V + 1, context=64)), path)
    with pytest.raises(ComposerError, match="no such"):
        load_torch_model(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    with pytest.raises(ComposerError):
        load_torch_model(bad)


@pytest.mark.parametrize("arch", ARCHS)
def test_remap_vocab_keeps_old_logits(arch, tmp_path):
    """Three new tokens inserted before the last 5 ids (as the Fill tokens go before the
    styles): every old token keeps its row, and so its logit, at its new id."""
    model = tiny(arch).eval()
    idx = tokens(2, 16)
    with torch.no_grad():
        ref, _ = model(idx)
    old_rows = model.wte.weight.detach().clone()
    cut = V - 5
    id_map = np.r_[np.arange(cut), [-1, -1, -1], np.arange(cut, V)]
    new_id = np.r_[np.arange(cut), np.arange(cut, V) + 3]  # old id -> new id
    model.remap_vocab(id_map)
    assert model.config.vocab_size == V + 3 and model.wte.weight.shape == (V + 3, old_rows.shape[1])
    assert torch.equal(model.wte.weight[torch.as_tensor(new_id)], old_rows)
    assert torch.allclose(model.wte.weight[cut:cut + 3], old_rows.mean(0).expand(3, -1))
    with torch.no_grad():
        logits, _ = model(torch.as_tensor(new_id)[idx])
    assert logits.shape == (2, 16, V + 3)
    torch.testing.assert_close(logits[..., torch.as_tensor(new_id)], ref, atol=1e-5, rtol=1e-5)
    # new tokens are usable, trainable and survive a save/load
    new = torch.tensor([[cut, cut + 1, cut + 2, 7]])
    model.train()
    _, loss = model(new, torch.tensor([[cut + 1, cut + 2, 7, cut]]))
    loss.backward()
    assert model.wte.weight.grad[cut:cut + 3].abs().sum() > 0
    save_weights(model, tmp_path / "g.safetensors")
    assert load_torch_model(tmp_path / "g.safetensors").config.vocab_size == V + 3


@pytest.mark.parametrize("arch", ARCHS)
def test_preset_parameter_counts(arch):
    expected = {"tiny": (0.3e6, 0.5e6), "small": (2.8e6, 4e6), "base": (17e6, 23e6)}
    assert set(PRESETS) == set(expected)
    for name, (lo, hi) in expected.items():
        with torch.device("meta"):
            n = build_model(ModelConfig.preset(name, arch, vocab_size=512)).num_params()
            other = build_model(ModelConfig.preset(name, "lstm" if arch == "transformer" else "transformer",
                                                   vocab_size=512)).num_params()
        assert lo <= n <= hi, (name, arch, n)
        assert abs(n - other) / other < 0.15, (name, n, other)


def test_saved_weights_get_ordinary_file_permissions(tmp_path):
    import os

    umask = os.umask(0)
    os.umask(umask)
    save_weights(tiny("transformer"), tmp_path / "m.safetensors")
    assert (tmp_path / "m.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
