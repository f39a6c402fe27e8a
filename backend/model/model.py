"""The DiffPoseTalk networks: the denoiser and the style encoder.

Parameter and buffer names follow the released checkpoints (``denoising_net.TE.pe``,
``denoising_net.transformer.layers.N.*`` ...), so importing them is a strict load.
Symbols: N batch, L = n_motions (100) frames per window, P = n_prev_motions (10) context
frames, D motion vector size (54 or 51), W transformer width.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .audio import build_audio_encoder
from .config import DenoiserConfig, ModelConfig, StyleEncoderConfig


def sinusoid_table(length: int, dim: int) -> torch.Tensor:
    """The Transformer paper's sinusoidal table (Vaswani et al. 2017, sec. 3.5), (length, dim).

    Even channels hold sin(pos / 10000^(2i/dim)), odd channels the cosine of the same angle.
    """
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq)
    return table


def alignment_mask(n_frames: int) -> torch.Tensor:
    """Cross-attention mask, (1 + n_frames, n_frames) bool, True = may NOT attend.

    Row 0 is the person token and sees every audio frame; motion frame i (row i + 1)
    sees only audio frame i, which ties each motion frame to its own moment of speech.
    """
    blocked = ~torch.eye(n_frames, dtype=torch.bool)
    return torch.cat([torch.zeros(1, n_frames, dtype=torch.bool), blocked], dim=0)


class StepTable(nn.Module):
    """Holds the sinusoidal diffusion-step table as ``pe`` (1, T + 1, W), named as released."""

    def __init__(self, n_steps: int, width: int):
        super().__init__()
        self.register_buffer("pe", sinusoid_table(n_steps + 1, width).unsqueeze(0))


class DecoderLayer(nn.Module):
    """Post-norm Transformer decoder layer with PyTorch's ``TransformerDecoderLayer``
    semantics and parameter names (GELU, batch first), plus an exact fast path for the
    aligned cross-attention at inference.
    """

    def __init__(self, width: int, n_heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.self_attn = nn.MultiheadAttention(width, n_heads, dropout=dropout, batch_first=True)
        self.multihead_attn = nn.MultiheadAttention(width, n_heads, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(width, ffn_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(ffn_dim, width)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)

    def memory_cache(self, memory):
        """Per-window cross-attention state, memory (N, M, W) -> (keys, values, aligned).

        Under the alignment mask, motion token i attends to one key only, so its softmax
        weight is exactly 1 and its output is out_proj(value_i): it does not depend on the
        query, so it is computed once per window instead of once per denoising step.
        """
        attn = self.multihead_attn
        w_k, w_v = attn.in_proj_weight.chunk(3)[1:]
        b_k, b_v = attn.in_proj_bias.chunk(3)[1:]
        k, v = F.linear(memory, w_k, b_k), F.linear(memory, w_v, b_v)
        return self._heads(k), self._heads(v), attn.out_proj(v)

    def _heads(self, x):
        return x.unflatten(-1, (self.n_heads, -1)).transpose(1, 2)  # (N, h, M, W / h)

    def _aligned_cross_attention(self, x, cache):
        """x (N, 1 + M, W): the person token (row 0) attends to all memory, motion tokens use the cache."""
        keys, values, aligned = cache
        attn = self.multihead_attn
        q = F.linear(x[:, :1], attn.in_proj_weight.chunk(3)[0], attn.in_proj_bias.chunk(3)[0])
        person = F.scaled_dot_product_attention(self._heads(q), keys, values)  # (N, h, 1, W / h)
        person = attn.out_proj(person.transpose(1, 2).flatten(2))
        return torch.cat([person, aligned], dim=1)

    def forward(self, x, memory, memory_mask, cache=None):
        """x (N, 1 + M, W), memory (N, M, W), memory_mask (1 + M, M) bool; cache from
        ``memory_cache`` (inference only: attention dropout would act on the single weight)."""
        x = self.norm1(x + self.dropout1(self.self_attn(x, x, x, need_weights=False)[0]))
        if cache is None:
            cross = self.multihead_attn(x, memory, memory, attn_mask=memory_mask, need_weights=False)[0]
        else:
            cross = self._aligned_cross_attention(x, cache)
        x = self.norm2(x + self.dropout2(cross))
        return self.norm3(x + self.dropout3(self.linear2(self.dropout(F.gelu(self.linear1(x))))))


class Decoder(nn.Module):
    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            DecoderLayer(cfg.width, cfg.n_heads, cfg.ffn_dim, cfg.dropout) for _ in range(cfg.n_layers)
        )


class DenoisingNetwork(nn.Module):
    """Predicts the clean motion x0 of a window from its noisy version and the conditions."""

    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.cfg = cfg
        width = cfg.width
        self.TE = StepTable(cfg.n_diff_steps, width)
        self.diff_step_map = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))
        n_tokens = 1 + cfg.n_prev_motions + cfg.n_motions
        self.PE = nn.Parameter(torch.randn(1, n_tokens, width))
        self.person_proj = nn.Linear(cfg.shape_dim + cfg.style_dim, width)
        self.feature_proj = nn.Linear(cfg.motion_dim + int(cfg.use_indicator), width)
        self.transformer = Decoder(cfg)
        self.register_buffer("alignment_mask", alignment_mask(cfg.n_prev_motions + cfg.n_motions))
        self.motion_dec = nn.Sequential(nn.Linear(width, width // 2), nn.GELU(), nn.Linear(width // 2, cfg.motion_dim))
        if cfg.statistics_dim:
            # FiLM (Perez et al. 2018) of the prediction by the reference's statistics: a
            # reference's amplitude or resting offset reaches every frame directly instead of
            # only through attention to the person token. Zero at first: no change.
            self.statistics_film = nn.Linear(cfg.statistics_dim, 2 * cfg.motion_dim)
            nn.init.zeros_(self.statistics_film.weight)
            nn.init.zeros_(self.statistics_film.bias)

    def memory_cache(self, prev_audio, audio_feat) -> list:
        """Cross-attention state of a window for every layer (see DecoderLayer.memory_cache);
        prev_audio (N, P, W), audio_feat (N, L, W). Reuse it for all steps of the window."""
        memory = torch.cat([prev_audio, audio_feat], dim=1)
        return [layer.memory_cache(memory) for layer in self.transformer.layers]

    def forward(self, x_t, audio_feat, person, prev_motion, prev_audio, t, indicator=None, cache=None):
        """One denoising evaluation.

        x_t (N, L, D) noisy motion; audio_feat (N, L, W); person (N, shape_dim + style_dim);
        prev_motion (N, P, D); prev_audio (N, P, W); t (N,) long steps in 1..T;
        indicator (N, L) 1 for real frames, 0 for padding (required when the config uses it);
        cache: ``memory_cache(prev_audio, audio_feat)``, made here when not in training.
        Returns the x0 prediction for context and window, (N, P + L, D).
        """
        step = self.diff_step_map(self.TE.pe[0, t])  # (N, W)
        person_token = (self.person_proj(person) + step).unsqueeze(1)  # (N, 1, W)
        frames = torch.cat([prev_motion, x_t], dim=1)  # (N, P + L, D)
        if self.cfg.use_indicator:
            if indicator is None:
                indicator = x_t.new_ones(x_t.shape[:2])
            context = indicator.new_zeros(indicator.shape[0], self.cfg.n_prev_motions)
            frames = torch.cat([frames, torch.cat([context, indicator], dim=1).unsqueeze(-1)], dim=-1)
        tokens = torch.cat([person_token, self.feature_proj(frames)], dim=1) + self.PE  # (N, 1 + P + L, W)
        memory = torch.cat([prev_audio, audio_feat], dim=1)  # (N, P + L, W)
        if cache is None and not self.training:
            cache = self.memory_cache(prev_audio, audio_feat)
        for i, layer in enumerate(self.transformer.layers):
            tokens = layer(tokens, memory, self.alignment_mask, None if cache is None else cache[i])
        x0 = self.motion_dec(tokens[:, 1:])
        if self.cfg.statistics_dim:
            scale, shift = self.statistics_film(person[:, -self.cfg.statistics_dim:]).unsqueeze(1).chunk(2, dim=-1)
            x0 = x0 * (1.0 + scale) + shift
        return x0


# Spread below this (normalized units) reads as "still": keeps the log finite for channels
# that never move, such as a FLAME model's unused jaw axes.
SPREAD_FLOOR = 1e-2


def motion_statistics(motion: torch.Tensor) -> torch.Tensor:
    """motion (N, T, D) normalized -> (N, 2D): each channel's mean over the clip, then the
    log of its spread (standard deviation) about that mean.

    The contrastive embedding tells speakers apart, which does not make it say how much a
    head moves or how wide a smile is; these numbers say it directly, and a log spread
    turns "four times the head motion" into a constant shift whatever the speaker.
    """
    mean = motion.mean(dim=1)
    spread = motion.std(dim=1, unbiased=False)
    return torch.cat([mean, torch.log(spread + SPREAD_FLOOR)], dim=-1)


class StyleEncoder(nn.Module):
    """Motion clip -> style vector: Linear(D -> 128), 4 post-norm encoder layers, mean over
    time; with ``cfg.statistics`` followed by ``motion_statistics`` of the clip."""

    def __init__(self, cfg: StyleEncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.motion_proj = nn.Linear(cfg.motion_dim, cfg.width)
        layer = nn.TransformerEncoderLayer(
            d_model=cfg.width, nhead=cfg.n_heads, dim_feedforward=cfg.ffn_dim, dropout=cfg.dropout,
            activation="gelu", batch_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, num_layers=cfg.n_layers, enable_nested_tensor=False)
        # Not saved: the released encoder files do not hold it either.
        self.register_buffer("pe", sinusoid_table(cfg.max_len, cfg.width), persistent=False)
        self.pe_dropout = nn.Dropout(cfg.dropout)

    def forward(self, motion):
        """motion (N, T, D) normalized, T <= max_len - 1 -> style (N, cfg.style_dim)."""
        # The released weights were trained with the table row at index T added to every
        # frame (not row i to frame i), so the encoder effectively has no positional signal.
        feat = self.pe_dropout(self.motion_proj(motion) + self.pe[motion.shape[1]])
        style = self.transformer(feat).mean(dim=1)
        if self.cfg.statistics:
            style = torch.cat([style, motion_statistics(motion).to(style.dtype)], dim=-1)
        return style


class DiffPoseTalk(nn.Module):
    """Audio encoder, the learned start and null conditions, and the denoising network."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.denoiser
        self.audio_encoder = build_audio_encoder(cfg.audio_encoder)
        self.audio_feature_map = nn.Linear(cfg.audio_encoder.out_dim, d.width)
        self.start_audio_feat = nn.Parameter(torch.randn(1, d.n_prev_motions, d.width))
        self.start_motion_feat = nn.Parameter(torch.randn(1, d.n_prev_motions, d.motion_dim))
        self.null_style_feat = nn.Parameter(torch.randn(1, 1, d.style_dim))
        self.null_audio_feat = nn.Parameter(torch.randn(1, 1, d.width))
        self.denoising_net = DenoisingNetwork(d)

    def audio_features(self, inputs, n_frames: int):
        """Encoder input (see the ``audio`` module docstring) -> (N, n_frames, W) denoiser memory."""
        return self.audio_feature_map(self.audio_encoder.encode(inputs, n_frames))

    def person(self, shape, style=None):
        """The person vector (N, shape_dim + style_dim): shape (N, shape_dim) normalized and
        style (N, style_dim), or the learned null style when ``style`` is None."""
        if style is None:
            style = self.null_style_feat[0].expand(shape.shape[0], -1)
        return torch.cat([shape, style], dim=1)

    def start_context(self, n: int):
        """The learned context of a clip's first window: (motion (n, P, D), audio (n, P, W))."""
        return self.start_motion_feat.expand(n, -1, -1), self.start_audio_feat.expand(n, -1, -1)

    def null_audio(self, n: int, n_frames: int):
        """The learned "no audio" condition, (n, n_frames, W)."""
        return self.null_audio_feat.expand(n, n_frames, -1)
