"""Our checkpoint format: a directory with

- ``model.safetensors``: the DiffPoseTalk module's state (audio encoder included) and the
  style encoder's under ``style_encoder.``;
- ``config.json``: format name and version, the network configs, name,
  expression_space, style presets and sampling defaults (primitives only);
- ``stats.npz``: normalization statistics in the reference's layout.

Loading is strict: every key must be present and nothing else. No pickle anywhere.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..atomic_files import write_all_atomically
from ..expression_spaces import SPACES
from .config import ModelConfig
from .errors import CheckpointError
from .head_prior import check_settings as check_head_prior
from .model import DiffPoseTalk, StyleEncoder
from .samplers import SAMPLERS
from .stats import STATS_NAME, check_stats, load_stats

FORMAT = "diffposetalk-backend"
FORMAT_VERSION = 1
STYLE_PREFIX = "style_encoder."
# default_audio_scale / default_style_scale: the reference's guidance, which released checkpoints
# were tuned for; a model of ours records the guidance its evaluation chose.
DEFAULT_SAMPLING = {"default_sampler": "dpmpp-2m", "default_steps": 20, "max_audio_seconds": 1200.0,
                    "default_audio_scale": 1.15, "default_style_scale": 3.0}


@dataclass
class LoadedModel:
    """Everything a bundle needs; what both loaders (ours and the released files) return."""

    config: ModelConfig
    model: DiffPoseTalk
    style_encoder: StyleEncoder
    stats: dict
    name: str
    expression_space: str = "flame"
    presets: dict = field(default_factory=dict)  # name -> (np.ndarray (style_dim,), description)
    sampling: dict = field(default_factory=lambda: dict(DEFAULT_SAMPLING))


def load_strict(module: torch.nn.Module, state: dict, where: str) -> None:
    """load_state_dict that names every missing and unexpected key before failing."""
    check_layout(_shapes(module.state_dict()), _shapes(state), where)
    module.load_state_dict(state, strict=True)


def check_layout(model_shapes: dict, file_shapes: dict, where: str) -> None:
    """Raise CheckpointError naming every tensor the model and the file disagree on."""
    missing = sorted(set(model_shapes) - set(file_shapes))
    unexpected = sorted(set(file_shapes) - set(model_shapes))
    wrong_shape = sorted(k for k in set(model_shapes) & set(file_shapes) if model_shapes[k] != file_shapes[k])
    if missing or unexpected or wrong_shape:
        lines = [f"{where} does not match the model architecture:"]
        lines += [f"  missing: {k}" for k in missing]
        lines += [f"  unexpected: {k}" for k in unexpected]
        lines += [f"  shape: {k} file {file_shapes[k]} model {model_shapes[k]}" for k in wrong_shape]
        raise CheckpointError("\n".join(lines))


def _shapes(state: dict) -> dict:
    return {key: tuple(value.shape) for key, value in state.items()}


def save_checkpoint(directory, loaded: LoadedModel) -> Path:
    from safetensors.torch import save

    directory = Path(directory)
    tensors = {k: v.detach().cpu().contiguous() for k, v in loaded.model.state_dict().items()}
    tensors.update({STYLE_PREFIX + k: v.detach().cpu().contiguous() for k, v in loaded.style_encoder.state_dict().items()})
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": loaded.name,
        "expression_space": loaded.expression_space,
        "config": loaded.config.to_dict(),
        "presets": {name: {"style": [float(x) for x in np.asarray(vec).reshape(-1)], "description": desc}
                    for name, (vec, desc) in loaded.presets.items()},
        "sampling": dict(loaded.sampling),
    }
    stats = {k: np.asarray(v, dtype=np.float32) for k, v in check_stats(loaded.stats).items()}
    # All three or none: a loader never meets new weights beside an old config.
    write_all_atomically([
        (directory / "model.safetensors", lambda handle: handle.write(save(tensors, metadata={"format": FORMAT}))),
        (directory / "config.json", lambda handle: handle.write(json.dumps(meta, indent=1).encode())),
        (directory / STATS_NAME, lambda handle: np.savez(handle, **stats)),
    ])
    return directory


def load_checkpoint(directory) -> LoadedModel:
    """Our checkpoint directory as a LoadedModel; raises CheckpointError for anything amiss.

    The network is first built on torch's meta device (no memory) and compared with the
    tensor shapes in the weights file's header, so a config that describes another or an
    absurdly large network fails before anything is allocated.
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    directory = Path(directory)
    for required in ("model.safetensors", "config.json", STATS_NAME):
        if not (directory / required).exists():
            raise CheckpointError(f"{directory} is not a model checkpoint: {required} is missing")
    config_path, weights_path = directory / "config.json", directory / "model.safetensors"
    try:
        meta = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{config_path} is not readable JSON ({exc}); copy the checkpoint again") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{config_path} is not a {FORMAT} config")
    version = meta.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"{config_path}: format_version must be a whole number, got {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{directory} has format version {version}; update the backend to load it")
    try:
        config = ModelConfig.from_dict(meta.get("config", {}))
        name, expression_space, presets, sampling = _read_meta(meta, config)
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{config_path} is not a valid model config: {exc}") from None
    try:
        with safe_open(str(weights_path), "pt") as weights:
            file_shapes = {key: tuple(weights.get_slice(key).get_shape()) for key in weights.keys()}
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights_path} is damaged or truncated ({exc}); copy the checkpoint again") from None
    try:
        with torch.device("meta"):
            model_shapes = _checkpoint_shapes(DiffPoseTalk(config), StyleEncoder(config.style_encoder))
    except Exception as exc:  # whatever the network's constructors refuse in this config
        raise CheckpointError(f"{config_path} describes no network this backend can build "
                              f"({type(exc).__name__}: {exc})") from None
    check_layout(model_shapes, file_shapes, str(directory))
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights_path} cannot be read ({exc}); copy the checkpoint again") from None
    model, style_encoder = DiffPoseTalk(config), StyleEncoder(config.style_encoder)
    load_strict(model, {k: v for k, v in tensors.items() if not k.startswith(STYLE_PREFIX)}, str(directory))
    load_strict(style_encoder, {k[len(STYLE_PREFIX):]: v for k, v in tensors.items() if k.startswith(STYLE_PREFIX)},
                f"{directory} (style encoder)")
    try:
        stats = load_stats(directory / STATS_NAME)
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise CheckpointError(f"{directory / STATS_NAME} is not readable statistics ({exc})") from None
    return LoadedModel(config, model, style_encoder, stats, name, expression_space, presets, sampling)


def _checkpoint_shapes(model: torch.nn.Module, style_encoder: torch.nn.Module) -> dict:
    """Tensor shapes as ``save_checkpoint`` stores them."""
    shapes = _shapes(model.state_dict())
    shapes.update({STYLE_PREFIX + k: v for k, v in _shapes(style_encoder.state_dict()).items()})
    return shapes


def _read_meta(meta: dict, config: ModelConfig) -> tuple:
    """(name, expression_space, presets, sampling) from a config file; raises ValueError."""
    name, space = meta.get("name"), meta.get("expression_space", "flame")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if space not in SPACES:
        raise ValueError(f"expression_space must be one of {sorted(SPACES)}, got {space!r}")
    presets = {}
    for preset, entry in dict(meta.get("presets", {})).items():
        style = np.asarray(entry["style"], dtype=np.float32)
        if style.ndim != 1 or not np.all(np.isfinite(style)):
            raise ValueError(f"preset {preset!r} must be a list of finite numbers")
        presets[preset] = (style, str(entry.get("description", "")))
    sampling = {**DEFAULT_SAMPLING, **dict(meta.get("sampling", {}))}
    steps = sampling["default_steps"]
    if sampling["default_sampler"] not in SAMPLERS:
        raise ValueError(f"sampling.default_sampler must be one of {list(SAMPLERS)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= config.denoiser.n_diff_steps:
        raise ValueError(f"sampling.default_steps must be a whole number from 1 to {config.denoiser.n_diff_steps}")
    for key in ("max_audio_seconds", "default_audio_scale", "default_style_scale"):
        value = sampling[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
            raise ValueError(f"sampling.{key} must be a finite number >= 0, got {value!r}")
    if sampling["max_audio_seconds"] == 0:
        raise ValueError("sampling.max_audio_seconds must be over 0")
    if sampling.get("head_prior") is not None:
        d = config.denoiser
        check_head_prior(sampling["head_prior"], d.head_pose, d.motion_dim, d.statistics_dim)
    return name, space, presets, sampling
