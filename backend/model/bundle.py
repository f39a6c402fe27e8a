"""ModelBundle: the model side's public API (load_model, generate, encode_style, info,
presets). Device and dtype are chosen here and nowhere else."""
from __future__ import annotations

import logging
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ..timebase import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from .audio import encode_chunked, normalize_waveform
from .checkpoint import LoadedModel, load_checkpoint
from .errors import Cancelled, CheckpointError
from .guidance import GUIDANCE_MODES
from .pipeline import KnownMotion, n_windows_for, sample_motion
from .samplers import SAMPLERS, make_sampler
from .sampling import resolve_sampling, resolve_scales
from .schedule import CosineSchedule
from .head_prior import HeadMotionPrior, head_spread_of_style
from .stats import HEAD_CHANNELS, load_stats, motion_to_vector, normalize, vector_to_motion

log = logging.getLogger(__name__)
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ModelBundle:
    fps = FPS

    def __init__(self, loaded: LoadedModel, device: str = "cpu", dtype: str = "float32"):
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}")
        self.device = torch.device(device)
        if dtype != "float32" and self.device.type != "cuda":
            raise ValueError(f"{dtype} needs a CUDA device; use float32 on {self.device.type}")
        self._autocast_dtype = DTYPES[dtype] if dtype != "float32" else None
        self.config = loaded.config
        self.model = loaded.model.to(self.device).eval()
        self.style_encoder = loaded.style_encoder.to(self.device).eval()
        self.stats = loaded.stats
        self.name = loaded.name
        self.expression_space = loaded.expression_space
        self.presets = dict(loaded.presets)
        self.sampling = dict(loaded.sampling)
        self.schedule = CosineSchedule(self.config.denoiser.n_diff_steps)
        self.head_pose = self.config.denoiser.head_pose

    def info(self) -> dict:
        return {
            "name": self.name,
            "expression_space": self.expression_space,
            "head_pose": self.head_pose,
            "style_dim": self.config.denoiser.style_dim,
            "audio_encoder": self.config.audio_encoder.kind,
            "samplers": list(SAMPLERS),
            "default_sampler": self.sampling["default_sampler"],
            "default_steps": int(self.sampling["default_steps"]),
            "max_steps": self.schedule.n_steps,
            "default_audio_scale": float(self.sampling["default_audio_scale"]),
            "default_style_scale": float(self.sampling["default_style_scale"]),
            "max_audio_seconds": float(self.sampling["max_audio_seconds"]),
            "presets": list(self.presets),
        }

    def guidance_scales(self, audio_scale: Optional[float] = None, style_scale: Optional[float] = None):
        """The (audio, style) guidance scales to use: the given ones, else the model's defaults."""
        return resolve_scales(self.info(), audio_scale, style_scale)

    def _autocast(self):
        if self._autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self._autocast_dtype)

    def encode_style(self, motion: dict) -> np.ndarray:
        """A motion clip (exp (T, 50), pose (T, 6), 25 fps, T >= 1) -> style vector (style_dim,).

        Like the reference, the first ``n_frames`` (100) frames are encoded.
        """
        exp, pose = np.asarray(motion["exp"], np.float32), np.asarray(motion["pose"], np.float32)
        if exp.ndim != 2 or exp.shape[1] != 50 or pose.shape != (exp.shape[0], 6) or exp.shape[0] < 1:
            raise ValueError(f"a style clip needs exp (T, 50) and pose (T, 6) with T >= 1; got {exp.shape}, {pose.shape}")
        vec = motion_to_vector(exp, pose, self.stats, self.head_pose)[: self.config.style_encoder.n_frames]
        with torch.inference_mode(), self._autocast():
            style = self.style_encoder(torch.from_numpy(vec).to(self.device).unsqueeze(0))
        return style[0].float().cpu().numpy()

    def _audio_features(self, audio: np.ndarray, speech_features, on_chunk, extra_windows=0) -> tuple:
        """-> (denoiser memory (1, (n_windows + extra_windows) * L, W), real frame count)."""
        cfg = self.config.audio_encoder
        window = self.config.denoiser.n_motions
        if cfg.kind == "frames":
            if speech_features is None:
                raise ValueError("this model reads speech features, not the waveform: pass speech_features= "
                                 "(backend.speech.features.features_from_audio makes them from the audio)")
            frames = torch.from_numpy(np.asarray(speech_features, np.float32))
            n_frames = frames.shape[0]
            inputs, unit = frames.unsqueeze(0), 1
        else:
            n_frames = len(audio) // SAMPLES_PER_FRAME
            inputs, unit = normalize_waveform(torch.from_numpy(audio)).unsqueeze(0), SAMPLES_PER_FRAME
        if n_frames < 1:
            raise ValueError("the audio is shorter than one frame (40 ms)")
        padded = (n_windows_for(n_frames, window) + extra_windows) * window
        # Zero padding after normalization, as the reference pads its normalized audio.
        inputs = inputs[:, : padded * unit]
        pad = torch.zeros(1, padded * unit - inputs.shape[1], *inputs.shape[2:])
        inputs = torch.cat([inputs, pad], dim=1).to(self.device)
        feats = encode_chunked(self.model.audio_features, inputs, padded, unit, cfg.chunk_frames,
                               cfg.context_frames, on_chunk)
        return feats, n_frames

    def _known_motion(self, keep: dict, n_frames: int) -> KnownMotion:
        """``keep`` (see ``generate``) as normalized model vectors over the clip's n_frames."""
        mask = np.zeros(n_frames, bool)
        vectors = np.zeros((n_frames, self.config.denoiser.motion_dim), np.float32)
        given = min(n_frames, len(keep["mask"]))
        mask[:given] = np.asarray(keep["mask"], bool)[:given]
        vectors[:given] = motion_to_vector(np.asarray(keep["exp"], np.float32)[:given],
                                           np.asarray(keep["pose"], np.float32)[:given], self.stats, self.head_pose)
        return KnownMotion(torch.from_numpy(vectors).to(self.device), torch.from_numpy(mask).to(self.device))

    def _head_prior(self, style, n_variations: int) -> Optional[HeadMotionPrior]:
        """The model's head-motion correction for this style (None when it has none): the
        target spread is the style reference's, read from the statistics in its style
        vector, or the model's default spread without a style."""
        settings = self.sampling.get("head_prior")
        if settings is None:
            return None
        d = self.config.denoiser
        spread = np.asarray(settings["default_spread"], np.float32) if style is None else \
            head_spread_of_style(style, d.motion_dim, d.statistics_dim)
        target = torch.from_numpy(spread).to(self.device).expand(n_variations, -1)
        return HeadMotionPrior(HEAD_CHANNELS, float(settings["smoothing_frames"]), target)

    def generate(
        self,
        audio: np.ndarray,
        *,
        style: Optional[np.ndarray] = None,
        shape: Optional[np.ndarray] = None,
        audio_scale: Optional[float] = None,
        style_scale: Optional[float] = None,
        guidance: str = "incremental",
        sampler: Optional[str] = None,
        steps: Optional[int] = None,
        seed: int = 0,
        n_variations: int = 1,
        dynamic_threshold: float = 0.0,
        speech_features: Optional[np.ndarray] = None,
        keep: Optional[dict] = None,
        head_prior: bool = True,
        progress: Optional[Callable] = None,
        cancelled: Optional[Callable[[], bool]] = None,
    ) -> list:
        """Speech (float32 mono 16 kHz) -> ``n_variations`` motions at 25 fps.

        progress(stage, window, n_windows, step, n_steps): stage "audio" once per encoded
        chunk (window = chunk index, n_windows = chunks), then "denoise" after every
        sampler step. cancelled() is polled between steps; True raises Cancelled. Sampler,
        steps and scales left out are the model's (``sampling.resolve_sampling``; the service
        resolves them before it calls, so they arrive here already checked).
        speech_features: the (T, F) frame features a "frames" model reads (required for one,
        ignored otherwise): the service's front-end workers make them, or
        ``backend.speech.features``; the model package itself does no speech recognition.
        keep: frames of an existing motion to keep while the others are generated to join
        them (inpainting): ``exp`` (T, 50), ``pose`` (T, 6) at 25 fps and ``mask`` (T,) bool,
        True = keep; frame i is the audio's frame i, frames past T are generated.
        head_prior: the model's head-motion correction (``head_prior``; models without
        one ignore it); False shows the network's own head motion.
        """
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"audio must be mono (1-D), got shape {audio.shape}")
        if len(audio) / SAMPLE_RATE > self.sampling["max_audio_seconds"]:
            raise ValueError(f"audio is {len(audio) / SAMPLE_RATE:.0f} s; this model accepts up to "
                             f"{self.sampling['max_audio_seconds']:.0f} s, split it into parts")
        if guidance not in GUIDANCE_MODES:
            raise ValueError(f"guidance must be one of {GUIDANCE_MODES}")
        sampling = resolve_sampling(self.info(), sampler, steps, audio_scale, style_scale)
        if n_variations < 1:
            raise ValueError("n_variations must be at least 1")
        if not 0.0 <= dynamic_threshold < 1.0:
            raise ValueError("dynamic_threshold is a quantile ratio in [0, 1); 0 turns it off")

        d = self.config.denoiser
        shape_raw = self.stats["shape_mean"] if shape is None else np.asarray(shape, np.float32).reshape(-1)
        if shape_raw.shape != (d.shape_dim,):
            raise ValueError(f"shape must have {d.shape_dim} FLAME coefficients, got {shape_raw.shape}")
        person = np.zeros((n_variations, d.shape_dim + d.style_dim), np.float32)
        person[:, : d.shape_dim] = normalize(shape_raw, self.stats, "shape")
        if style is not None:
            style = np.asarray(style, np.float32).reshape(-1)
            if style.shape != (d.style_dim,):
                raise ValueError(f"style must be a {d.style_dim}-value vector, got {style.shape}")
            person[:, d.shape_dim:] = style

        def on_chunk(i, n):
            if cancelled is not None and cancelled():
                raise Cancelled("generation cancelled")
            if progress is not None:
                progress("audio", i, n, 0, 1)

        generator = torch.Generator(self.device).manual_seed(int(seed))
        with torch.inference_mode(), self._autocast():
            # Inpainting windows start at the first new frame, so the last may need one more window of padding.
            feats, n_frames = self._audio_features(audio, speech_features, on_chunk,
                                                   extra_windows=int(keep is not None))
            noise = torch.randn((n_variations, d.n_motions, d.motion_dim), generator=generator, device=self.device)
            known = None if keep is None else self._known_motion(keep, n_frames)
            vec = sample_motion(
                self.model, feats.float(), n_frames, torch.from_numpy(person).to(self.device), style is not None,
                noise, sampler=make_sampler(sampling.sampler, self.schedule), steps=sampling.steps,
                audio_scale=sampling.audio_scale, style_scale=sampling.style_scale, guidance=guidance,
                dynamic_threshold=dynamic_threshold, known=known,
                head_prior=self._head_prior(style, n_variations) if head_prior else None,
                generator=generator, progress=progress, cancelled=cancelled,
            )
        motions = []
        for v in vec.float().cpu().numpy():
            exp, pose = vector_to_motion(v, self.stats)
            motions.append({"exp": exp, "pose": pose, "fps": self.fps, "expression_space": self.expression_space,
                            "shape": shape_raw.astype(np.float32)})
        return motions


def load_model(path, device: str = "cpu", style_encoder=None, stats=None, *, dtype: str = "float32",
               threads: Optional[int] = None) -> ModelBundle:
    """Our checkpoint directory, or a released DiffPoseTalk denoiser ``.pt`` together with
    its style encoder file (``style_encoder=``) and ``stats_train.npz`` (``stats=``).

    threads: CPU threads for torch (process-wide); None leaves torch's choice.
    """
    if threads:
        torch.set_num_threads(int(threads))
    path = Path(path)
    if path.is_dir():
        loaded = load_checkpoint(path)
        if stats is not None:
            loaded.stats = load_stats(stats)
    elif path.is_file():
        from .importer import load_released

        loaded = load_released(path, style_encoder, stats)
    else:
        raise CheckpointError(f"model {path} not found (expected a checkpoint directory or a released .pt file)")
    log.info("loaded model %s (%s, audio %s) on %s", loaded.name, loaded.expression_space,
             loaded.config.audio_encoder.kind, device)
    return ModelBundle(loaded, device=device, dtype=dtype)
