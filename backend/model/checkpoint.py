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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import ModelConfig
from .errors import CheckpointError
from .model import DiffPoseTalk, StyleEncoder
from .stats import check_stats, load_stats

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
    presets: dict = field(default_factory=dict)  # name -> (np.ndarray (128,), description)
    sampling: dict = field(default_factory=lambda: dict(DEFAULT_SAMPLING))


def load_strict(module: torch.nn.Module, state: dict, where: str) -> None:
    """load_state_dict that names every missing and unexpected key before failing."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong_shape:
        lines = [f"{where} does not match the model architecture:"]
        lines += [f"  missing: {k}" for k in missing]
        lines += [f"  unexpected: {k}" for k in unexpected]
        lines += [f"  shape: {k} file {tuple(state[k].shape)} model {tuple(own[k].shape)}" for k in wrong_shape]
        raise CheckpointError("\n".join(lines))
    module.load_state_dict(state, strict=True)


def save_checkpoint(directory, loaded: LoadedModel) -> Path:
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in loaded.model.state_dict().items()}
    tensors.update({STYLE_PREFIX + k: v.detach().cpu().contiguous() for k, v in loaded.style_encoder.state_dict().items()})
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": FORMAT})
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
    (directory / "config.json").write_text(json.dumps(meta, indent=1))
    np.savez(directory / "stats.npz", **{k: np.asarray(v, dtype=np.float32) for k, v in check_stats(loaded.stats).items()})
    return directory


def load_checkpoint(directory) -> LoadedModel:
    from safetensors.torch import load_file

    directory = Path(directory)
    for required in ("model.safetensors", "config.json", "stats.npz"):
        if not (directory / required).exists():
            raise CheckpointError(f"{directory} is not a model checkpoint: {required} is missing")
    meta = json.loads((directory / "config.json").read_text())
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{directory / 'config.json'} is not a {FORMAT} config")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{directory} has format version {meta['format_version']}; update the backend to load it")
    config = ModelConfig.from_dict(meta["config"])
    tensors = load_file(str(directory / "model.safetensors"))
    model, style_encoder = DiffPoseTalk(config), StyleEncoder(config.style_encoder)
    load_strict(model, {k: v for k, v in tensors.items() if not k.startswith(STYLE_PREFIX)}, str(directory))
    load_strict(style_encoder, {k[len(STYLE_PREFIX):]: v for k, v in tensors.items() if k.startswith(STYLE_PREFIX)},
                f"{directory} (style encoder)")
    presets = {name: (np.asarray(p["style"], dtype=np.float32), p.get("description", ""))
               for name, p in meta.get("presets", {}).items()}
    return LoadedModel(config, model, style_encoder, load_stats(directory / "stats.npz"), meta["name"],
                       meta.get("expression_space", "flame"), presets, {**DEFAULT_SAMPLING, **meta.get("sampling", {})})
