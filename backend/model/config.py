"""Configuration of the networks: one dataclass per network, primitives only.

The defaults are the reference DiffPoseTalk configuration, which the released checkpoints
need. Smaller models come from the same code through presets such as :func:`compact`.
A checkpoint stores ``ModelConfig.to_dict()`` as JSON and loading rebuilds from it.
"""
from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields

AUDIO_ENCODER_KINDS = ("hubert", "wav2vec2", "mel", "frames")

# Largest value of each size in a config read from a file: far above any model that fits
# in memory, low enough that building the network from a damaged or hostile config fails
# at once instead of allocating gigabytes.
SIZE_LIMITS = {
    "motion_dim": 1024, "shape_dim": 1024, "style_dim": 4096, "width": 4096, "n_layers": 64, "n_heads": 64,
    "ffn_dim": 16384, "n_motions": 1000, "n_prev_motions": 1000, "n_diff_steps": 10000, "n_frames": 10000,
    "max_len": 10000, "out_dim": 4096, "n_mels": 512, "hidden": 4096, "feature_dim": 4096, "kernel_size": 63,
    "chunk_frames": 100000, "context_frames": 10000, "statistics_dim": 2048,
}
# The same for the sizes of a transformers (HuBERT / wav2vec2) config.
TRANSFORMERS_SIZE_LIMITS = {
    "hidden_size": 4096, "num_hidden_layers": 64, "num_attention_heads": 64, "intermediate_size": 16384,
    "conv_dim": 4096, "conv_kernel": 1024, "conv_stride": 1024, "num_conv_pos_embeddings": 1024,
    "num_conv_pos_embedding_groups": 1024,
}


@dataclass
class DenoiserConfig:
    motion_dim: int = 54  # [exp 50, head rotation 3, jaw x 1]; 51 without head pose
    shape_dim: int = 100  # FLAME identity coefficients
    style_dim: int = 128  # output of the style encoder
    width: int = 512  # transformer width, also the audio feature width after the map
    n_layers: int = 8
    n_heads: int = 8
    ffn_dim: int = 2048
    dropout: float = 0.1
    n_motions: int = 100  # frames generated per window (4 s at 25 fps)
    n_prev_motions: int = 10  # context frames carried over from the previous window
    n_diff_steps: int = 500
    use_indicator: bool = True  # extra input channel: 1 real frame, 0 context or padding
    # Our default model's addition: the last statistics_dim style values are the reference's
    # channel statistics (StyleEncoderConfig.statistics), which also scale and shift the
    # x0 prediction channel by channel; 0 (the released models): no such path.
    statistics_dim: int = 0

    @property
    def head_pose(self) -> bool:
        return self.motion_dim == 54


@dataclass
class StyleEncoderConfig:
    motion_dim: int = 54
    width: int = 128  # also the style vector size
    n_layers: int = 4
    n_heads: int = 4
    ffn_dim: int = 512
    dropout: float = 0.1
    n_frames: int = 100  # frames encoded per style vector
    max_len: int = 600  # rows of the sinusoidal table (only row ``n_frames`` is used)
    # Our default model's addition: the style vector also holds each channel's mean and
    # log spread over the reference (``model.motion_statistics``), 2 * motion_dim values.
    statistics: bool = False

    @property
    def style_dim(self) -> int:
        return self.width + (2 * self.motion_dim if self.statistics else 0)


@dataclass
class AudioEncoderConfig:
    kind: str = "hubert"  # one of AUDIO_ENCODER_KINDS
    out_dim: int = 768  # features per frame before the map to the denoiser width
    # hubert / wav2vec2: the transformers config as a dict; empty = that class's defaults
    # (the base models: 12 layers, 768 wide).
    transformers_config: dict = field(default_factory=dict)
    # mel: log-mel front end and a small conv + transformer encoder trained from scratch
    n_mels: int = 80
    hidden: int = 256
    n_layers: int = 2
    n_heads: int = 4
    # frames: per-frame features made outside torch (backend/speech/features.py)
    feature_dim: int = 0
    kernel_size: int = 5
    # Long audio is encoded in chunks of this many frames with this much context on each
    # side, so memory stays flat. One chunk covers clips up to chunk_frames exactly like
    # the reference, which encodes the whole clip at once.
    chunk_frames: int = 750
    context_frames: int = 50

    def __post_init__(self):
        if self.kind not in AUDIO_ENCODER_KINDS:
            raise ValueError(f"unknown audio encoder kind {self.kind!r}; use one of {AUDIO_ENCODER_KINDS}")
        if self.kind == "frames" and self.feature_dim <= 0:
            raise ValueError("a 'frames' audio encoder needs feature_dim (the speech front end's FEATURE_DIM)")


@dataclass
class ModelConfig:
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    style_encoder: StyleEncoderConfig = field(default_factory=StyleEncoderConfig)
    audio_encoder: AudioEncoderConfig = field(default_factory=AudioEncoderConfig)

    def __post_init__(self):
        if self.denoiser.motion_dim != self.style_encoder.motion_dim:
            raise ValueError("the denoiser and the style encoder must use the same motion vector")
        statistics = self.style_encoder.style_dim - self.style_encoder.width
        if self.denoiser.statistics_dim not in (0, statistics):
            raise ValueError(f"denoiser.statistics_dim must be 0 or the style encoder's {statistics} statistics")
        if self.denoiser.style_dim != self.style_encoder.style_dim:
            raise ValueError("denoiser.style_dim must equal the style encoder's output size "
                             "(its width, plus 2 * motion_dim with statistics)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        """Rebuild from ``to_dict()``; raises ValueError for a wrong type or size (``SIZE_LIMITS``)."""
        parts = {"denoiser": DenoiserConfig, "style_encoder": StyleEncoderConfig, "audio_encoder": AudioEncoderConfig}
        if not isinstance(data, dict):
            raise ValueError(f"the config must be an object with the sections {sorted(parts)}")
        unknown = set(data) - set(parts)
        if unknown:
            raise ValueError(f"unknown config sections {sorted(unknown)}; expected {sorted(parts)}")
        return cls(**{name: _build(kind, data.get(name, {})) for name, kind in parts.items()})


def _build(kind, values: dict):
    if not isinstance(values, dict):
        raise ValueError(f"{kind.__name__} must be an object of fields, got {type(values).__name__}")
    defaults = {f.name: f.default_factory() if f.default_factory is not MISSING else f.default for f in fields(kind)}
    unknown = set(values) - set(defaults)
    if unknown:
        raise ValueError(f"unknown {kind.__name__} fields {sorted(unknown)}")
    for name, value in values.items():
        where, expected = f"{kind.__name__}.{name}", type(defaults[name])
        if expected is int:
            _check_size(where, value, SIZE_LIMITS[name])
        elif expected is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"{where} must be a number in [0, 1), got {value!r}")
        elif not isinstance(value, expected):
            raise ValueError(f"{where} must be {expected.__name__}, got {type(value).__name__}")
    for name, value in values.get("transformers_config", {}).items():
        if name in TRANSFORMERS_SIZE_LIMITS:
            for size in value if isinstance(value, list) else [value]:
                _check_size(f"transformers_config.{name}", size, TRANSFORMERS_SIZE_LIMITS[name])
    return kind(**values)


def _check_size(where: str, value, limit: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise ValueError(f"{where} must be a whole number from 0 to {limit}, got {value!r}")


def reference(head_pose: bool = True) -> ModelConfig:
    """The released DiffPoseTalk architecture (HuBERT base audio encoder)."""
    motion_dim = 54 if head_pose else 51
    return ModelConfig(DenoiserConfig(motion_dim=motion_dim), StyleEncoderConfig(motion_dim=motion_dim))


def compact(head_pose: bool = True, audio: str = "mel", feature_dim: int = 0) -> ModelConfig:
    """A small model for CPU: width 256, 4 layers, 4 heads, a from-scratch audio encoder."""
    motion_dim = 54 if head_pose else 51
    if audio == "frames":
        audio_cfg = AudioEncoderConfig(kind="frames", out_dim=256, feature_dim=feature_dim, hidden=256, n_layers=4)
    elif audio == "mel":
        audio_cfg = AudioEncoderConfig(kind="mel", out_dim=256, hidden=256, n_layers=2)
    else:
        audio_cfg = AudioEncoderConfig(kind=audio)
    return ModelConfig(
        DenoiserConfig(motion_dim=motion_dim, width=256, n_layers=4, n_heads=4, ffn_dim=1024),
        StyleEncoderConfig(motion_dim=motion_dim),
        audio_cfg,
    )
