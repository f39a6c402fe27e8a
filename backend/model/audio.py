"""Audio encoders: 16 kHz speech (or per-frame speech features) -> features at 25 fps.

Every encoder has ``input_kind`` ("waveform" or "frames"), ``out_dim`` and
``encode(inputs, n_frames) -> (N, n_frames, out_dim)``:
- waveform: inputs (N, n_frames * 640) samples, normalized as (x - mean) / (std + 1e-5)
  over the whole clip (``normalize_waveform``);
- frames: inputs (N, n_frames, feature_dim) precomputed by backend/speech/features.py.
``encode_chunked`` runs any of them over a long clip in chunks with context so memory
does not grow with the square of the clip length.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..timebase import SAMPLE_RATE, SAMPLES_PER_FRAME
from .config import AudioEncoderConfig
from .errors import CheckpointError

# transformers renamed the positional conv's weight-norm tensors between versions.
WEIGHT_NORM_SPELLINGS = (("weight_g", "parametrizations.weight.original0"), ("weight_v", "parametrizations.weight.original1"))

CNN_HOP = 320  # HuBERT/wav2vec2 feature-extractor hop: 50 features per second


def normalize_waveform(audio: torch.Tensor) -> torch.Tensor:
    """(..., S) -> zero mean, unit std over the last axis (the reference's 1e-5 guard)."""
    return (audio - audio.mean(dim=-1, keepdim=True)) / (audio.std(dim=-1, keepdim=True) + 1e-5)


def pad_for_cnn(audio: torch.Tensor, hop: int = CNN_HOP, extra: int = 80) -> torch.Tensor:
    """Pad (N, S) so the 400-sample, 320-hop CNN yields exactly S // 320 features.

    Same padding as the reference: half of the shortfall on each side, made of two
    successive reflections and, for an odd count, one replicated sample.
    """
    side = math.ceil((hop * (audio.shape[1] // hop) + extra - audio.shape[1]) / 2)
    if side >= 0:
        reflect = side // 2
        if reflect > 0:
            audio = F.pad(audio, (reflect, reflect), mode="reflect")
            audio = F.pad(audio, (reflect, reflect), mode="reflect")
        if side % 2:
            audio = F.pad(audio.unsqueeze(1), (1, 1), mode="replicate").squeeze(1)
    return audio


def resample_frames(features: torch.Tensor, length: int) -> torch.Tensor:
    """Linear resampling along time, (N, T, C) -> (N, length, C), half-pixel centres."""
    return F.interpolate(features.transpose(1, 2), size=length, mode="linear", align_corners=False).transpose(1, 2)


def _transformers_encoder(base):
    """Give a transformers speech model (HuBERT, wav2vec2) the 25 fps ``encode`` method."""

    class TransformersSpeechEncoder(base):
        input_kind = "waveform"

        @property
        def out_dim(self) -> int:
            return self.config.hidden_size

        def encode(self, audio, n_frames):
            """audio (N, n_frames * 640) normalized -> (N, n_frames, hidden).

            The reference alignment: CNN features (50 fps) are resampled to 2 * n_frames,
            the transformer runs at that rate, and its output is resampled to n_frames.
            """
            cnn = self.feature_extractor(pad_for_cnn(audio)).transpose(1, 2)  # (N, ~2n, C)
            hidden = self.feature_projection(resample_frames(cnn, 2 * n_frames))
            if isinstance(hidden, tuple):  # wav2vec2 also returns the normalized input
                hidden = hidden[0]
            hidden = self.encoder(hidden).last_hidden_state  # (N, 2n, hidden)
            return resample_frames(hidden, n_frames)

    TransformersSpeechEncoder.__name__ = base.__name__.replace("Model", "FrameEncoder")
    return TransformersSpeechEncoder


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Triangular HTK-mel filters, (n_fft // 2 + 1, n_mels), 0 Hz to Nyquist."""
    def hz_to_mel(hz):
        return 2595.0 * math.log10(1.0 + hz / 700.0)

    mels = torch.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2)
    hz = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1).unsqueeze(1)  # (F, 1)
    lower, centre, upper = hz[:-2], hz[1:-1], hz[2:]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


class MelEncoder(nn.Module):
    """Log-mel (50 fps) -> two convs (the second halves the rate to 25 fps) -> a small
    pre-norm transformer with a convolutional positional embedding, trained from scratch."""

    input_kind = "waveform"
    n_fft = 512

    def __init__(self, cfg: AudioEncoderConfig):
        super().__init__()
        self.out_dim = cfg.out_dim
        self.register_buffer("mel_fb", mel_filterbank(cfg.n_mels, self.n_fft), persistent=False)
        self.register_buffer("window", torch.hann_window(400), persistent=False)
        self.conv = nn.Sequential(
            nn.Conv1d(cfg.n_mels, cfg.hidden, 3, padding=1), nn.GELU(),
            nn.Conv1d(cfg.hidden, cfg.hidden, 3, stride=2, padding=1), nn.GELU(),
        )
        self.pos_conv = nn.Conv1d(cfg.hidden, cfg.hidden, 15, padding=7, groups=cfg.hidden // 16)
        layer = nn.TransformerEncoderLayer(cfg.hidden, cfg.n_heads, 4 * cfg.hidden, dropout=0.1,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.hidden)
        self.proj = nn.Linear(cfg.hidden, cfg.out_dim)

    def log_mel(self, audio):
        """(N, S) -> (N, n_mels, S // 320) log-mel at 50 fps."""
        spec = torch.stft(audio.float(), self.n_fft, hop_length=CNN_HOP, win_length=400, window=self.window,
                          center=True, return_complex=True)
        power = spec.abs().pow(2)[..., : audio.shape[1] // CNN_HOP]  # (N, F, 2n)
        return torch.log(torch.einsum("nft,fm->nmt", power, self.mel_fb) + 1e-5)

    def encode(self, audio, n_frames):
        """audio (N, n_frames * 640) normalized -> (N, n_frames, out_dim)."""
        x = self.conv(self.log_mel(audio).to(audio.dtype))  # (N, hidden, n)
        x = x + F.gelu(self.pos_conv(x))
        x = self.norm(self.transformer(x.transpose(1, 2)))
        return self.proj(resample_frames(x, n_frames) if x.shape[1] != n_frames else x)


class FrameFeatureEncoder(nn.Module):
    """Per-frame speech features (25 fps) -> residual 1-D conv blocks -> out_dim.

    Convolutions only, so chunked encoding with context is exact.
    """

    input_kind = "frames"

    def __init__(self, cfg: AudioEncoderConfig):
        super().__init__()
        self.out_dim = cfg.out_dim
        self.feature_dim = cfg.feature_dim
        self.input_proj = nn.Linear(cfg.feature_dim, cfg.hidden)
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.hidden) for _ in range(cfg.n_layers))
        self.convs = nn.ModuleList(
            nn.Conv1d(cfg.hidden, cfg.hidden, cfg.kernel_size, padding=cfg.kernel_size // 2) for _ in range(cfg.n_layers)
        )
        self.mlps = nn.ModuleList(nn.Linear(cfg.hidden, cfg.hidden) for _ in range(cfg.n_layers))
        self.proj = nn.Linear(cfg.hidden, cfg.out_dim)

    def encode(self, features, n_frames):
        """features (N, n_frames, feature_dim) -> (N, n_frames, out_dim)."""
        if features.shape[-1] != self.feature_dim:
            raise ValueError(f"this model expects {self.feature_dim} features per frame, got {features.shape[-1]}; "
                             "the speech front end and the checkpoint do not match")
        x = self.input_proj(features)
        for norm, conv, mlp in zip(self.norms, self.convs, self.mlps):
            x = x + mlp(F.gelu(conv(norm(x).transpose(1, 2)).transpose(1, 2)))
        return self.proj(x)


def build_audio_encoder(cfg: AudioEncoderConfig) -> nn.Module:
    if cfg.kind in ("hubert", "wav2vec2"):
        import transformers

        if cfg.kind == "hubert":
            base, config_class = transformers.HubertModel, transformers.HubertConfig
        else:
            base, config_class = transformers.Wav2Vec2Model, transformers.Wav2Vec2Config
        # Built from a config in code: weights come from our checkpoint, a released
        # checkpoint or a local folder (load_local_weights), never from a hub.
        tconfig = config_class(**cfg.transformers_config)
        tconfig._attn_implementation = "sdpa"
        encoder = _transformers_encoder(base)(tconfig)
        if encoder.config.hidden_size != cfg.out_dim:
            raise ValueError(f"audio encoder out_dim {cfg.out_dim} != transformers hidden_size {encoder.config.hidden_size}")
        return encoder
    if cfg.kind == "mel":
        return MelEncoder(cfg)
    return FrameFeatureEncoder(cfg)


def load_local_weights(encoder: nn.Module, folder) -> None:
    """Load pretrained HuBERT / wav2vec2 weights from a local folder (``model.safetensors``
    or ``pytorch_model.bin``, as saved by transformers), strictly."""
    folder = Path(folder)
    if (folder / "model.safetensors").exists():
        from safetensors.torch import load_file

        state = load_file(folder / "model.safetensors")
    elif (folder / "pytorch_model.bin").exists():
        state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in {folder}")
    prefixes = ("hubert.", "wav2vec2.")
    state = {next((k[len(p):] for p in prefixes if k.startswith(p)), k): v for k, v in state.items()}
    own = set(encoder.state_dict())
    state = {k: v for k, v in map_weight_norm_keys(state, own).items() if not k.startswith(("lm_head.", "project_"))}
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if missing or unexpected:
        raise CheckpointError(f"{folder} does not match the audio encoder config: missing {missing}, unexpected {unexpected}")
    encoder.load_state_dict(state, strict=True)


def map_weight_norm_keys(state: dict, own_keys) -> dict:
    """Rename weight-norm keys between the old (weight_g/v) and new (parametrizations)
    spellings of transformers, towards whichever ``own_keys`` uses."""
    own_keys = set(own_keys)
    mapped = {}
    for key, value in state.items():
        for old, new in WEIGHT_NORM_SPELLINGS:
            for a, b in ((old, new), (new, old)):
                if key.endswith(a) and key not in own_keys and key[: -len(a)] + b in own_keys:
                    key = key[: -len(a)] + b
        mapped[key] = value
    return mapped


def encode_chunked(
    encode: Callable,
    inputs: torch.Tensor,
    n_frames: int,
    unit: int,
    chunk_frames: int,
    context_frames: int,
    on_chunk: Optional[Callable[[int, int], None]] = None,
) -> torch.Tensor:
    """Run ``encode(piece, frames) -> (N, frames, C)`` over a long input in chunks.

    inputs (N, n_frames * unit[, F]) with ``unit`` input steps per frame along dim 1
    (640 samples, or 1 feature frame). Each chunk sees up to ``context_frames`` extra frames
    on each side, cut away afterwards. A clip of at most ``chunk_frames`` frames is a
    single chunk, encoded exactly as a whole. Returns (N, n_frames, C).
    ``on_chunk(i, n_chunks)`` is called before each chunk (progress, cancel).
    """
    n_chunks = max(1, math.ceil(n_frames / chunk_frames))
    out = []
    for i in range(n_chunks):
        if on_chunk is not None:
            on_chunk(i, n_chunks)
        start, end = i * chunk_frames, min(n_frames, (i + 1) * chunk_frames)
        lo, hi = max(0, start - context_frames), min(n_frames, end + context_frames)
        feats = encode(inputs[:, lo * unit: hi * unit], hi - lo)
        out.append(feats[:, start - lo: end - lo])
    return torch.cat(out, dim=1)
