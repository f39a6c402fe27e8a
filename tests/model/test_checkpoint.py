import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from backend.model import CheckpointError, load_model
from backend.model.checkpoint import load_checkpoint, save_checkpoint

from .helpers import band_energies, speech_like, tiny_loaded


@pytest.mark.parametrize("audio", ["frames", "mel", "hubert"])
def test_save_then_load_gives_the_same_model(tmp_path, audio):
    loaded = tiny_loaded(audio=audio)
    save_checkpoint(tmp_path / "ck", loaded)
    meta = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert meta["format_version"] == 1 and meta["name"] == "tiny" and meta["expression_space"] == "flame"
    again = load_checkpoint(tmp_path / "ck")
    assert again.config.to_dict() == loaded.config.to_dict()
    for a, b in ((loaded.model, again.model), (loaded.style_encoder, again.style_encoder)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert np.array_equal(again.presets["calm"][0], loaded.presets["calm"][0])
    assert all(np.array_equal(again.stats[k], loaded.stats[k]) for k in loaded.stats)
    bundle = load_model(tmp_path / "ck")
    bundle._frame_features = band_energies
    out = bundle.generate(speech_like(1.0), sampler="ddim", steps=2, style=bundle.presets["calm"][0])
    assert out[0]["exp"].shape[0] == 25


def test_a_dropped_or_extra_key_fails_loudly(tmp_path):
    save_checkpoint(tmp_path / "ck", tiny_loaded())
    path = tmp_path / "ck" / "model.safetensors"
    tensors = load_file(str(path))
    dropped = "denoising_net.transformer.layers.1.norm2.weight"
    del tensors[dropped]
    tensors["denoising_net.extra"] = torch.zeros(1)
    save_file(tensors, str(path))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "ck")
    assert f"missing: {dropped}" in str(err.value) and "unexpected: denoising_net.extra" in str(err.value)


def test_missing_files_and_foreign_configs_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nothing")
    save_checkpoint(tmp_path / "ck", tiny_loaded())
    (tmp_path / "ck" / "stats.npz").unlink()
    with pytest.raises(CheckpointError, match="stats.npz is missing"):
        load_checkpoint(tmp_path / "ck")


@pytest.mark.parametrize("layout", ["save_pretrained", "old_bin"])
def test_pretrained_audio_weights_from_a_local_folder(tmp_path, layout):
    import transformers

    from backend.model.audio import build_audio_encoder, load_local_weights

    from .helpers import TINY_HUBERT

    torch.manual_seed(1)
    source = transformers.HubertModel(transformers.HubertConfig(**TINY_HUBERT))
    if layout == "save_pretrained":
        source.save_pretrained(tmp_path)
    else:  # an older transformers' CTC checkpoint: prefixed keys, weight_g / weight_v, a head to skip
        state = {"hubert." + k.replace("parametrizations.weight.original0", "weight_g")
                 .replace("parametrizations.weight.original1", "weight_v"): v for k, v in source.state_dict().items()}
        state["lm_head.weight"] = torch.zeros(3, 64)
        torch.save(state, tmp_path / "pytorch_model.bin")
    encoder = build_audio_encoder(tiny_loaded(audio="hubert").config.audio_encoder)
    load_local_weights(encoder, tmp_path)
    a, b = source.state_dict(), encoder.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(FileNotFoundError):
        load_local_weights(encoder, tmp_path / "empty")


def test_package_import_is_light():
    import subprocess
    import sys

    code = "import sys, backend.model; assert 'torch' not in sys.modules and 'numpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(Path(__file__).parents[2]))
