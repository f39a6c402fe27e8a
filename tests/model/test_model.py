import json
import math
import re

import pytest
import torch

from backend.model.config import AudioEncoderConfig, ModelConfig, compact, reference
from backend.model.model import DiffPoseTalk, DenoisingNetwork, StyleEncoder, alignment_mask, sinusoid_table

from helpers import tiny_model_config

# Released denoiser keys under ``denoising_net.`` (one transformer layer shown; 8 layers).
RELEASED_LAYER_KEYS = {
    "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
    "multihead_attn.in_proj_weight", "multihead_attn.in_proj_bias", "multihead_attn.out_proj.weight",
    "multihead_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
    "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "norm3.weight", "norm3.bias",
}
RELEASED_DENOISER_KEYS = {
    "TE.pe", "diff_step_map.0.weight", "diff_step_map.0.bias", "diff_step_map.2.weight", "diff_step_map.2.bias",
    "PE", "person_proj.weight", "person_proj.bias", "feature_proj.weight", "feature_proj.bias", "alignment_mask",
    "motion_dec.0.weight", "motion_dec.0.bias", "motion_dec.2.weight", "motion_dec.2.bias",
} | {f"transformer.layers.{i}.{k}" for i in range(8) for k in RELEASED_LAYER_KEYS}


def test_reference_config_has_the_released_key_set_and_shapes():
    with torch.device("meta"):
        model = DiffPoseTalk(reference())
        style = StyleEncoder(reference().style_encoder)
    state = model.state_dict()
    top = {k.split(".")[0] for k in state}
    assert top == {"audio_encoder", "audio_feature_map", "start_audio_feat", "start_motion_feat", "null_style_feat",
                   "null_audio_feat", "denoising_net"}
    assert {k[len("denoising_net."):] for k in state if k.startswith("denoising_net.")} == RELEASED_DENOISER_KEYS
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    assert shapes["denoising_net.feature_proj.weight"] == (512, 55)
    assert shapes["denoising_net.PE"] == (1, 111, 512)
    assert shapes["denoising_net.TE.pe"] == (1, 501, 512)
    assert shapes["denoising_net.alignment_mask"] == (111, 110)
    assert shapes["denoising_net.person_proj.weight"] == (512, 228)
    assert shapes["denoising_net.motion_dec.2.weight"] == (54, 256)
    assert shapes["audio_feature_map.weight"] == (512, 768)
    assert shapes["start_audio_feat"] == (1, 10, 512) and shapes["start_motion_feat"] == (1, 10, 54)
    assert shapes["null_style_feat"] == (1, 1, 128) and shapes["null_audio_feat"] == (1, 1, 512)
    # HuBERT base: 12 layers of 768, positional conv with the weight-norm parametrization.
    assert shapes["audio_encoder.encoder.layers.11.attention.k_proj.weight"] == (768, 768)
    assert any(re.search(r"pos_conv_embed\.conv\.(weight_g|parametrizations\.weight\.original0)$", k) for k in state)
    style_keys = set(style.state_dict())
    assert {k.split(".")[0] for k in style_keys} == {"motion_proj", "transformer"}
    assert {int(k.split(".")[2]) for k in style_keys if k.startswith("transformer.")} == {0, 1, 2, 3}
    assert tuple(style.state_dict()["motion_proj.weight"].shape) == (128, 54)


def test_sinusoid_table_values():
    table = sinusoid_table(501, 8)
    for pos in (0, 3, 500):
        for i in range(4):
            angle = pos / 10000 ** (2 * i / 8)
            assert float(table[pos, 2 * i]) == pytest.approx(math.sin(angle), abs=1e-5)
            assert float(table[pos, 2 * i + 1]) == pytest.approx(math.cos(angle), abs=1e-5)


def test_alignment_mask_layout():
    mask = alignment_mask(110)
    assert mask.shape == (111, 110) and mask.dtype == torch.bool
    assert not mask[0].any()  # the person token sees all memory
    for i in (0, 5, 109):
        assert (~mask[i + 1]).nonzero().flatten().tolist() == [i]


@pytest.mark.parametrize("mode", ["masked attention", "inference cache"])
def test_motion_frame_only_hears_its_own_audio_frame(mode):
    # With one decoder layer (self-attention, then cross-attention, then FFN), motion
    # frame i's output can depend on audio frame j only through the cross-attention mask.
    torch.manual_seed(0)
    cfg = tiny_model_config(n_layers=1, dropout=0.0).denoiser
    net = DenoisingNetwork(cfg).train(mode == "masked attention")
    L, P, W = cfg.n_motions, cfg.n_prev_motions, cfg.width
    args = [torch.randn(1, L, cfg.motion_dim), torch.randn(1, L, W), torch.randn(1, cfg.shape_dim + cfg.style_dim),
            torch.randn(1, P, cfg.motion_dim), torch.randn(1, P, W), torch.tensor([250])]
    with torch.no_grad():
        base = net(*args)
        j = 37
        args[1] = args[1].clone()
        args[1][0, j] += 5.0
        changed = (net(*args) - base).abs().amax(dim=-1)[0] > 1e-6
    assert changed.nonzero().flatten().tolist() == [P + j]


def test_inference_cache_equals_masked_attention():
    torch.manual_seed(0)
    cfg = tiny_model_config(n_layers=2, dropout=0.0).denoiser
    net = DenoisingNetwork(cfg)
    L, P, W = cfg.n_motions, cfg.n_prev_motions, cfg.width
    args = [torch.randn(3, L, cfg.motion_dim), torch.randn(3, L, W), torch.randn(3, cfg.shape_dim + cfg.style_dim),
            torch.randn(3, P, cfg.motion_dim), torch.randn(3, P, W), torch.tensor([1, 250, 500]), torch.ones(3, L)]
    with torch.no_grad():
        masked = net.train()(*args)
        cached = net.eval()(*args)
    assert torch.allclose(masked, cached, atol=1e-5)
    # The layer keeps nn.TransformerDecoderLayer's semantics and names: same weights, same output.
    reference_layer = torch.nn.TransformerDecoderLayer(W, cfg.n_heads, cfg.ffn_dim, 0.0, "gelu", batch_first=True).eval()
    ours = net.transformer.layers[0].eval()
    reference_layer.load_state_dict(ours.state_dict(), strict=True)
    x, memory = torch.randn(2, 1 + P + L, W), torch.randn(2, P + L, W)
    with torch.no_grad():
        assert torch.allclose(reference_layer(x, memory, memory_mask=net.alignment_mask), ours(x, memory, net.alignment_mask), atol=1e-5)


def test_style_encoder_adds_the_length_row_to_every_frame():
    torch.manual_seed(0)
    enc = StyleEncoder(tiny_model_config().style_encoder).eval()
    clip = torch.randn(1, 30, 54)
    with torch.no_grad():
        style = enc(clip)
        # No per-frame position: reversing time gives the same style.
        assert torch.allclose(style, enc(clip.flip(1)), atol=1e-5)
        manual = enc.transformer(enc.motion_proj(clip) + sinusoid_table(600, 16)[30]).mean(1)
    assert torch.allclose(style, manual, atol=1e-6)


def test_config_round_trips_through_json():
    for cfg in (reference(), reference(head_pose=False), compact(), compact(audio="frames", feature_dim=20), tiny_model_config(audio="hubert")):
        again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
        assert again.to_dict() == json.loads(json.dumps(cfg.to_dict()))
    assert reference(head_pose=False).denoiser.motion_dim == 51
    with pytest.raises(ValueError, match="unknown DenoiserConfig fields"):
        ModelConfig.from_dict({"denoiser": {"widht": 3}})
    with pytest.raises(ValueError, match="feature_dim"):
        AudioEncoderConfig(kind="frames")


def test_the_model_builds_its_conditions():
    cfg = tiny_model_config()
    model = DiffPoseTalk(cfg)
    d = cfg.denoiser
    shape, style = torch.randn(3, d.shape_dim), torch.randn(3, d.style_dim)
    assert torch.equal(model.person(shape, style), torch.cat([shape, style], dim=1))
    null = model.person(shape)
    assert torch.equal(null[:, d.shape_dim:], model.null_style_feat[0].expand(3, -1))
    motion, audio = model.start_context(2)
    assert motion.shape == (2, d.n_prev_motions, d.motion_dim) and audio.shape == (2, d.n_prev_motions, d.width)
    assert torch.equal(model.null_audio(2, 5)[1, 4], model.null_audio_feat[0, 0])
