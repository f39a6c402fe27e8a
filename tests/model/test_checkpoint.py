import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from backend.model import CheckpointError, load_model
from backend.model.checkpoint import load_checkpoint, save_checkpoint

from helpers import band_energies, speech_like, tiny_loaded


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
    speech = speech_like(1.0)
    out = bundle.generate(speech, sampler="ddim", steps=2, style=bundle.presets["calm"][0],
                          speech_features=band_energies(speech))
    assert out[0]["exp"].shape[0] == 25


def test_a_refused_save_leaves_the_checkpoint_there_untouched(tmp_path):
    directory = tmp_path / "ck"
    save_checkpoint(directory, tiny_loaded())
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.safetensors", "stats.npz"]
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    other = tiny_loaded(seed=1)
    del other.stats["exp_std"]
    with pytest.raises(CheckpointError, match="exp_std"):
        save_checkpoint(directory, other)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before  # no new weights beside old stats


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

    from helpers import TINY_HUBERT

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


def _edit_config(directory, edit):
    path = directory / "config.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("edit, needle", [
    (lambda m: m["config"]["denoiser"].update(n_layers=100000), "n_layers must be a whole number from 0 to 64"),
    (lambda m: m["config"]["denoiser"].update(width="wide"), "DenoiserConfig.width"),
    (lambda m: m["config"].update(denoiser=[1, 2]), "DenoiserConfig must be an object"),
    (lambda m: m.update(config="tiny"), "the config must be an object"),
    (lambda m: m["config"]["audio_encoder"].update(kind="hubert", transformers_config={"num_hidden_layers": 10**6}),
     "num_hidden_layers"),
    (lambda m: m["sampling"].update(default_steps="many"), "default_steps"),
    (lambda m: m.update(presets={"calm": {"style": [[1.0], [2.0]]}}), "preset 'calm'"),
    # a size within the limits, but not the network the weights file holds: refused before building it
    (lambda m: m["config"]["denoiser"].update(n_layers=60, ffn_dim=16384), "does not match the model architecture"),
])
def test_bad_configs_are_refused_before_the_network_is_built(tmp_path, edit, needle):
    save_checkpoint(tmp_path / "ck", tiny_loaded())
    _edit_config(tmp_path / "ck", edit)
    with pytest.raises(CheckpointError, match=needle):
        load_checkpoint(tmp_path / "ck")


def test_a_truncated_weights_file_is_a_checkpoint_error(tmp_path):
    save_checkpoint(tmp_path / "ck", tiny_loaded())
    weights = tmp_path / "ck" / "model.safetensors"
    data = weights.read_bytes()
    for size in (len(data) // 2, 40, 0):
        weights.write_bytes(data[:size])
        with pytest.raises(CheckpointError, match="damaged or truncated"):
            load_checkpoint(tmp_path / "ck")


@pytest.fixture(scope="module")
def saved_checkpoint(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fuzz") / "ck"
    save_checkpoint(directory, tiny_loaded())
    return directory


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
CONFIG_FIELDS = [(section, name) for section, fields in tiny_loaded().config.to_dict().items() for name in fields]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(CONFIG_FIELDS + [("config", None), ("sampling", "default_steps"), ("presets", None)]),
       st.one_of(json_values, st.integers(-10, 10**9)))
def test_fuzz_the_loaders_config(saved_checkpoint, field, value):
    original = (saved_checkpoint / "config.json").read_text()

    def edit(meta):
        section, name = field
        if section == "config" or section == "presets":
            meta[section] = value
        elif section == "sampling":
            meta["sampling"][name] = value
        else:
            meta["config"][section][name] = value

    try:
        _edit_config(saved_checkpoint, edit)
        try:
            loaded = load_checkpoint(saved_checkpoint)
        except CheckpointError as exc:
            assert str(exc)
        else:  # accepted: then it is the saved network, weights and all
            assert loaded.config.denoiser.n_layers == 2 and loaded.model.denoising_net is not None
    finally:
        (saved_checkpoint / "config.json").write_text(original)
