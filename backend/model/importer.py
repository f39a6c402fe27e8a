"""Import of the released DiffPoseTalk files (the one place that knows their layout).

- denoiser: torch pickle ``{'args': Namespace, 'model': state_dict, 'iter': int}``
- style encoder: ``{'args': Namespace, 'encoder': state_dict, 'iter': int}``
- ``stats_train.npz`` and style vectors (``.npy`` of 128 floats) are read as they are.

The pickles are read with torch's weights-only unpickler, extended with just the classes
their ``args`` need (argparse.Namespace and pathlib paths); anything else is refused.
The architecture is inferred from tensor shapes, not from ``args``. Keys are mapped in
this module only, and every missing or unexpected key is reported.
``python -m backend import-checkpoint`` (``backend/cli/import_checkpoint.py``) converts
released files into our checkpoint folder with ``load_released``.
"""
from __future__ import annotations

import argparse
import logging
import pathlib
import pickle
import re
from pathlib import Path

import numpy as np
import torch

from .audio import map_weight_norm_keys
from .checkpoint import DEFAULT_SAMPLING, LoadedModel, load_strict
from .config import AudioEncoderConfig, DenoiserConfig, ModelConfig, StyleEncoderConfig
from .errors import CheckpointError
from .model import DiffPoseTalk, StyleEncoder, alignment_mask
from .schedule import CosineSchedule
from .stats import load_stats

log = logging.getLogger(__name__)

# Classes the released ``args`` hold besides what torch's weights-only loader allows.
# A Windows path cannot be instantiated on POSIX, so it is read as a pure path.
ALLOWED_GLOBALS = [
    argparse.Namespace,
    pathlib.PosixPath,
    pathlib.PurePosixPath,
    pathlib.PureWindowsPath,
    (pathlib.PureWindowsPath, "pathlib.WindowsPath"),
]
HUBERT_BASE_STRIDES = (5, 2, 2, 2, 2, 2, 2)


def read_released(path) -> dict:
    """Unpickle a released file with the restricted loader; refuse anything unexpected."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} not found")
    try:
        with torch.serialization.safe_globals(ALLOWED_GLOBALS):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found is None:
            raise CheckpointError(f"{path} is not a torch checkpoint (it cannot be unpickled); give the released "
                                  "DiffPoseTalk .pt file") from None
        raise CheckpointError(
            f"refused to load {path}: it contains the class {found.group(1)}, which a released DiffPoseTalk file "
            "does not need (only tensors, argparse.Namespace and pathlib paths are allowed). Is this the right file?"
        ) from None
    except (RuntimeError, EOFError, ValueError) as exc:  # not a zip or pickle torch can read: damaged or another kind
        raise CheckpointError(f"{path} is not a readable torch file ({exc}); give the released DiffPoseTalk "
                              ".pt file") from None
    if not isinstance(data, dict) or not ({"model", "encoder"} & set(data)):
        raise CheckpointError(f"{path} is not a released DiffPoseTalk file (expected a dict with 'model' or 'encoder')")
    return data


def _layer_count(state: dict, prefix: str) -> int:
    indices = {int(m.group(1)) for k in state for m in [re.match(re.escape(prefix) + r"(\d+)\.", k)] if m}
    if indices != set(range(len(indices))):
        raise CheckpointError(f"layers under {prefix} are not numbered 0..n-1: {sorted(indices)}")
    return len(indices)


def transformers_config_from_state(state: dict, prefix: str = "audio_encoder.") -> dict:
    """HuBERT / wav2vec2 config values read from tensor shapes (base-model values where a
    shape does not tell: conv strides, 64-wide attention heads, post-norm layers)."""
    def get(name):
        return state.get(prefix + name)

    n_conv = _layer_count(state, prefix + "feature_extractor.conv_layers.")
    if n_conv != len(HUBERT_BASE_STRIDES):
        raise CheckpointError(f"audio encoder has {n_conv} CNN layers; only the base layout ({len(HUBERT_BASE_STRIDES)}) is supported")
    convs = [get(f"feature_extractor.conv_layers.{i}.conv.weight") for i in range(n_conv)]
    pos = next(v for k, v in state.items() if k.startswith(prefix + "encoder.pos_conv_embed.conv.")
               and k.endswith(("weight_v", "original1")))
    hidden = get("feature_projection.projection.weight").shape[0]
    return {
        "hidden_size": hidden,
        "num_hidden_layers": _layer_count(state, prefix + "encoder.layers."),
        "num_attention_heads": max(1, hidden // 64),
        "intermediate_size": get("encoder.layers.0.feed_forward.intermediate_dense.weight").shape[0],
        "conv_dim": [c.shape[0] for c in convs],
        "conv_kernel": [c.shape[-1] for c in convs],
        "conv_stride": list(HUBERT_BASE_STRIDES),
        "conv_bias": get("feature_extractor.conv_layers.0.conv.bias") is not None,
        "feat_extract_norm": "layer" if get("feature_extractor.conv_layers.1.layer_norm.weight") is not None else "group",
        "feat_proj_layer_norm": get("feature_projection.layer_norm.weight") is not None,
        "num_conv_pos_embeddings": pos.shape[-1],
        "num_conv_pos_embedding_groups": hidden // pos.shape[1],
        "mask_time_prob": 0.05 if get("masked_spec_embed") is not None else 0.0,
    }


def config_from_released(state: dict, args) -> ModelConfig:
    """The architecture of a released denoiser, from its tensor shapes."""
    need = ["start_motion_feat", "start_audio_feat", "null_style_feat", "null_audio_feat", "audio_feature_map.weight",
            "denoising_net.feature_proj.weight", "denoising_net.person_proj.weight", "denoising_net.motion_dec.2.weight",
            "denoising_net.transformer.layers.0.linear1.weight"]
    missing = [k for k in need if k not in state]
    if missing:
        raise CheckpointError(f"not a supported DiffPoseTalk denoiser (style and audio guidance): missing {missing}")
    if "denoising_net.PE" not in state:
        raise CheckpointError("this denoiser uses a sinusoidal positional encoding; only learnable-PE models are supported")
    motion_dim = state["start_motion_feat"].shape[-1]
    if motion_dim not in (51, 54):
        raise CheckpointError(f"motion vector of {motion_dim} values; expected 54 (head pose) or 51")
    width, n_in = state["denoising_net.feature_proj.weight"].shape
    n_tokens = state["denoising_net.PE"].shape[1]
    n_prev = state["start_audio_feat"].shape[1]
    style_dim = state["null_style_feat"].shape[-1]
    n_steps = state["diffusion_sched.betas"].shape[0] - 1 if "diffusion_sched.betas" in state else 500
    denoiser = DenoiserConfig(
        motion_dim=motion_dim,
        shape_dim=state["denoising_net.person_proj.weight"].shape[1] - style_dim,
        style_dim=style_dim,
        width=width,
        n_layers=_layer_count(state, "denoising_net.transformer.layers."),
        n_heads=int(getattr(args, "n_heads", None) or 8),  # not visible in any shape
        ffn_dim=state["denoising_net.transformer.layers.0.linear1.weight"].shape[0],
        n_motions=n_tokens - 1 - n_prev,
        n_prev_motions=n_prev,
        n_diff_steps=n_steps,
        use_indicator=n_in == motion_dim + 1,
    )
    kind = str(getattr(args, "audio_model", None) or "hubert")
    if kind not in ("hubert", "wav2vec2"):
        raise CheckpointError(f"unsupported audio model {kind!r} in the released args")
    audio = AudioEncoderConfig(kind=kind, out_dim=state["audio_feature_map.weight"].shape[1],
                               transformers_config=transformers_config_from_state(state))
    return ModelConfig(denoiser, StyleEncoderConfig(motion_dim=motion_dim, width=style_dim), audio)


def _check_fixed_buffers(state: dict, config: ModelConfig) -> None:
    """The schedule and the alignment mask are rebuilt in code; refuse files that differ."""
    d = config.denoiser
    stored = state.get("denoising_net.alignment_mask")
    if stored is not None and not torch.equal(stored.bool(), alignment_mask(d.n_prev_motions + d.n_motions)):
        raise CheckpointError("the alignment mask in this file is not the one-frame mask; unsupported variant")
    ours = CosineSchedule(d.n_diff_steps).reference_buffers()
    for name, table in ours.items():
        theirs = state.get(f"diffusion_sched.{name}")
        if theirs is not None and not torch.allclose(theirs.float(), table, rtol=1e-4, atol=1e-5):
            raise CheckpointError(f"diffusion_sched.{name} is not the cosine schedule; unsupported variant")


def import_denoiser(path) -> tuple:
    """Released denoiser file -> (ModelConfig, DiffPoseTalk with its weights, args)."""
    data = read_released(path)
    if "model" not in data:
        raise CheckpointError(f"{path} holds a style encoder ('encoder'), not a denoiser ('model')")
    args = data.get("args")
    state = dict(data["model"])
    config = config_from_released(state, args)
    _check_fixed_buffers(state, config)
    model = DiffPoseTalk(config)
    # Rebuilt in code: the schedule lives outside the network, and the step table is
    # recomputed (the reference also discards the stored one).
    state = {k: v for k, v in state.items() if not k.startswith("diffusion_sched.")}
    state["denoising_net.TE.pe"] = model.denoising_net.TE.pe
    state = map_weight_norm_keys(state, model.state_dict())
    load_strict(model, state, str(path))
    log.info("imported %s (iteration %s): %s", path, data.get("iter"), config.denoiser)
    return config, model, args


def import_style_encoder(path, config: StyleEncoderConfig) -> StyleEncoder:
    data = read_released(path)
    if "encoder" not in data:
        raise CheckpointError(f"{path} holds a denoiser ('model'), not a style encoder ('encoder')")
    state = dict(data["encoder"])
    if "motion_proj.weight" not in state:
        raise CheckpointError(f"{path}: no motion_proj.weight; not a DiffPoseTalk style encoder")
    width, motion_dim = state["motion_proj.weight"].shape
    if motion_dim != config.motion_dim or width != config.width:
        raise CheckpointError(f"style encoder {path} is for {motion_dim}-value motion and {width}-d style; the denoiser "
                              f"needs {config.motion_dim} and {config.width} (head pose and no-head-pose files mixed?)")
    args = data.get("args")
    config = StyleEncoderConfig(
        motion_dim=motion_dim, width=width, n_layers=_layer_count(state, "transformer.layers."),
        n_heads=int(getattr(args, "n_heads", None) or 4),
        ffn_dim=state["transformer.layers.0.linear1.weight"].shape[0],
        n_frames=int(getattr(args, "n_motions", None) or 100),
    )
    encoder = StyleEncoder(config)
    load_strict(encoder, state, str(path))
    return encoder


def load_style_vector(path) -> np.ndarray:
    """A shared style vector (``.npy`` of 128 floats) -> (128,) float32."""
    vec = np.load(path, allow_pickle=False)
    if vec.ndim != 1 or vec.shape[0] != 128:
        raise CheckpointError(f"{path}: a style vector is 128 floats, got shape {vec.shape}")
    return vec.astype(np.float32)


def load_released(denoiser_path, style_encoder_path=None, stats_path=None, presets=None) -> LoadedModel:
    """A released denoiser + style encoder + stats_train.npz as a LoadedModel.

    presets: optional {name: path to a style .npy}.
    """
    if style_encoder_path is None or stats_path is None:
        raise CheckpointError("a released denoiser needs its style encoder file (style_encoder=) and its "
                              "stats_train.npz (stats=) too")
    config, model, _ = import_denoiser(denoiser_path)
    style_encoder = import_style_encoder(style_encoder_path, config.style_encoder)
    config.style_encoder = style_encoder.cfg
    presets = {name: (load_style_vector(p), f"style from {Path(p).name}") for name, p in (presets or {}).items()}
    name = Path(denoiser_path).parent.parent.name if Path(denoiser_path).parent.name == "checkpoints" else Path(denoiser_path).stem
    return LoadedModel(config, model, style_encoder, load_stats(stats_path), name, "flame", presets, dict(DEFAULT_SAMPLING))
