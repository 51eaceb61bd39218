"""The numpy decoder (generation on a CPU) computes what the torch model computes."""

import numpy as np
import pytest
import torch

from composer.errors import ComposerError
from composer.model import ModelConfig, build_model, save_weights
from composer import numpy_model
from composer.numpy_model import NumpyTransformer, _gelu
from composer.generate import ComposerModel, SamplingOptions
from composer.tokenizer import Tokenizer
from composer.vocab import TokenizerConfig

V = 96


def pair(tmp_path, **kw):
    """A random tiny torch transformer and the numpy one read from its saved file."""
    torch.manual_seed(0)
    model = build_model(ModelConfig.preset("tiny", "transformer", vocab_size=V, context=64, **kw)).eval()
    with torch.no_grad():  # non-trivial norm gains, so folding them into the matrices is tested
        for name, p in model.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "norm.weight":
                p.uniform_(0.5, 1.5)
    save_weights(model, tmp_path / "m.safetensors")
    return model, NumpyTransformer.load(tmp_path / "m.safetensors")


def test_gelu_matches_torch():
    x = np.linspace(-12, 12, 20001, dtype=np.float32)
    want = torch.nn.functional.gelu(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(_gelu(x.copy()), want, atol=2e-6)


@pytest.mark.parametrize("block", [64, 7])  # 7: long feeds go in blocks, the last one partial
@pytest.mark.parametrize("batch", [1, 2])
def test_prefill_steps_and_drafts_give_the_torch_logits(tmp_path, monkeypatch, batch, block):
    monkeypatch.setattr(numpy_model, "BLOCK", block)
    model, nm = pair(tmp_path)
    seq = np.random.default_rng(batch).integers(1, V, size=(batch, 40))
    with torch.no_grad():
        want = model(torch.from_numpy(seq))[0].numpy()
    logits, cache = nm.step(seq[:, :10])  # prefill
    got = [logits]
    for a, b in ((10, 11), (11, 12), (12, 17), (17, 40)):  # single tokens, a draft of 5, a long feed
        logits, cache = nm.step(seq[:, a:b], cache)
        got.append(logits)
    assert cache.length == 40 and nm.room(cache) == 24
    np.testing.assert_allclose(np.concatenate(got, axis=1), want, atol=1e-4, rtol=1e-4)
    assert want.std() > 0.1  # the comparison is not between two near-zero arrays


@pytest.mark.parametrize("block", [64, 7])
def test_last_only_gives_the_last_positions_logits_and_the_same_cache(tmp_path, monkeypatch, block):
    monkeypatch.setattr(numpy_model, "BLOCK", block)
    _, nm = pair(tmp_path)
    seq = np.random.default_rng(4).integers(1, V, size=(2, 50))
    for start in (0, 20):  # a prefill, and a long feed after a cache
        cache = None if start == 0 else nm.step(seq[:, :start])[1]
        full, full_cache = nm.step(seq[:, start:45], cache)
        cache = None if start == 0 else nm.step(seq[:, :start])[1]
        last, cache = nm.step(seq[:, start:45], cache, last=True)
        assert last.shape == (2, 1, V) and cache.length == 45
        np.testing.assert_allclose(last, full[:, -1:], atol=1e-5)
        np.testing.assert_allclose(nm.step(seq[:, 45:], cache)[0], nm.step(seq[:, 45:], full_cache)[0], atol=1e-5)


def test_a_cropped_cache_recomputes_the_same_logits(tmp_path):
    _, nm = pair(tmp_path)
    seq = np.random.default_rng(3).integers(1, V, size=(1, 30))
    _, cache = nm.step(seq[:, :20])
    first, cache = nm.step(seq[:, 20:30], cache)
    nm.cache_crop(cache, 20)
    again, cache = nm.step(seq[:, 20:30], cache)
    np.testing.assert_array_equal(first, again)
    with pytest.raises(ValueError):
        nm.cache_crop(cache, 31)


def test_the_context_limit_is_an_error_not_a_wrong_answer(tmp_path):
    _, nm = pair(tmp_path)
    _, cache = nm.step(np.ones((1, 60), dtype=np.int64))
    with pytest.raises(ValueError, match="exceed the model context"):
        nm.step(np.ones((1, 5), dtype=np.int64), cache)


def test_unusable_files_are_one_line_errors(tmp_path):
    with pytest.raises(ComposerError, match="no such model file"):
        NumpyTransformer.load(tmp_path / "missing.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"not a model")
    with pytest.raises(ComposerError, match="not a readable safetensors model"):
        NumpyTransformer.load(tmp_path / "bad.safetensors")
    torch.manual_seed(0)
    save_weights(build_model(ModelConfig.preset("tiny", "lstm", vocab_size=V)), tmp_path / "lstm.safetensors")
    with pytest.raises(ComposerError, match="an lstm model; the numpy decoder runs transformers"):
        NumpyTransformer.load(tmp_path / "lstm.safetensors")


def test_numpy_and_torch_sample_the_same_piece(tmp_path):
    """Same seed, same weights: the two decoders' logits differ by float rounding only, so the
    draws agree token for token (torch checks speculative drafts, numpy does not: the sampled
    distribution is the same, and here so is the piece)."""
    tok = Tokenizer(TokenizerConfig(styles=["jazz"]))
    torch.manual_seed(0)
    model = build_model(ModelConfig.preset("tiny", "transformer", vocab_size=len(tok), context=128)).eval()
    save_weights(model, tmp_path / "m.safetensors")
    opts = SamplingOptions(style="jazz", bars=2, seed=4, instruments=["piano", "bass"], max_tokens=150)
    via_torch = ComposerModel(model, tok)
    via_torch.decoder.draft_tokens = 0  # the same RNG stream as the numpy decoder
    a = via_torch.generate_tokens(opts)[0]
    b = ComposerModel(NumpyTransformer.load(tmp_path / "m.safetensors"), tok).generate_tokens(opts)[0]
    assert len(a) > 20
    np.testing.assert_array_equal(a, b)


def test_generating_on_a_cpu_never_imports_torch(tmp_path):
    """The point of the numpy decoder: `compose generate` skips torch's 1-1.5 s import."""
    import subprocess
    import sys

    tok = Tokenizer(TokenizerConfig(styles=["jazz"]))
    torch.manual_seed(0)
    run = tmp_path / "run"
    run.mkdir()
    save_weights(build_model(ModelConfig.preset("tiny", "transformer", vocab_size=len(tok), context=64)),
                 run / "model.safetensors")
    from composer.checkpoint import write_run_config
    write_run_config(run, {}, tok, {})
    code = ("import sys; from composer.generate import load_model; m = load_model(sys.argv[1]); "
            "m.generate(style='jazz', bars=1, max_tokens=40); "
            "print(type(m.decoder).__name__, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["NumpyTransformer", "False"]


def test_one_architecture_one_set_of_weight_names_one_decoder_interface(tmp_path):
    from composer.model import TorchDecoder
    from composer.model_config import Decoder, transformer_weights

    config = ModelConfig.preset("tiny", "transformer", vocab_size=64, context=32)
    model = build_model(config)
    assert sorted(model.state_dict()) == sorted(transformer_weights(config))
    save_weights(model, tmp_path / "m.safetensors")
    for decoder in (TorchDecoder(model), NumpyTransformer.load(tmp_path / "m.safetensors")):
        assert isinstance(decoder, Decoder)


def test_a_slid_cache_puts_the_kept_keys_where_a_prefill_would_and_matches_torch(tmp_path):
    model, nm = pair(tmp_path)
    seq = np.random.default_rng(8).integers(1, V, size=(2, 60))
    _, cache = nm.step(seq[:, :50])
    nm.cache_slide(cache, 4, 30)  # keep positions 0-3, move 30..49 down to 4..23
    assert cache.length == 24
    _, fresh = nm.step(np.concatenate([seq[:, :4], seq[:, 30:50]], axis=1))
    k, v = cache.state[0]  # the first layer's keys and values depend only on token and position
    np.testing.assert_allclose(k[..., :24], fresh.state[0][0][..., :24], atol=1e-5)
    np.testing.assert_allclose(v[:, :, :24], fresh.state[0][1][:, :, :24], atol=1e-5)
    with torch.no_grad():  # the torch model slides its cache (another layout) the same way
        _, tc = model.step(torch.from_numpy(seq[:, :50]))
        model.cache_slide(tc, 4, 30)
        want = model.step(torch.from_numpy(seq[:, 50:]), tc)[0].numpy()
    got = nm.step(seq[:, 50:], cache)[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError):
        nm.cache_slide(cache, 10, 5)
