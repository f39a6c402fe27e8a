"""The work behind the protocol's job methods, shared by ``serve``, ``generate`` and ``batch``.

``Runner`` holds the loaded model bundle and turns validated request params
(``protocol.validate_params``) into results. It knows nothing about pipes or threads:
the caller passes ``progress`` and ``cancelled`` callbacks.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from .. import __version__
from .. import audio_io, motion_io
from ..atomic_files import write_atomically
from ..device import DeviceUnavailable, check_device_name, choose_device, configure_threads
from ..model.adjustments import AdjustmentError, apply_adjustments, reference_of, resolve_adjustments
from ..model.errors import Cancelled, CheckpointError, SamplingError
from ..protocol import (MAX_AUDIO_SECONDS, MAX_STYLE_VALUE, PROTOCOL_VERSION, STAGES, ErrorCode,
                        ProtocolError)
from ..speech.features import features_from_recognition
from ..speech.whisper import speech_model_name
from ..speech.workers import SpeechModelUnavailable, SpeechWorkerError, SpeechWorkers
from ..timebase import FPS, SAMPLE_RATE
from .takes import KeptTake

log = logging.getLogger(__name__)

# The stages of a generate job ("audio" and "denoise" are named by the model's progress
# calls) and the part of the progress bar (0..1) each one covers.
DECODE, AUDIO, DENOISE, WRITE = STAGES
_STAGE_SPAN = {DECODE: (0.0, 0.03), AUDIO: (0.03, 0.5), DENOISE: (0.5, 0.97), WRITE: (0.97, 1.0)}

def fail(code: str, message: str, **details) -> ProtocolError:
    return ProtocolError(code, message, details)


def variation_paths(output, n_variations: int) -> list:
    """Output files of a generate job: ``output`` itself, or ``<stem>_<k>.npz`` for k = 1..n."""
    output = Path(output)
    if n_variations == 1:
        return [output]
    return [output.with_name(f"{output.stem}_{k}{output.suffix}") for k in range(1, n_variations + 1)]


class Runner:
    def __init__(self, device: str = "auto", threads: int | None = None, speech_model=None,
                 speech_workers: int | None = None):
        """speech_model: a faster-whisper model folder for the speech front-end (None: the
        bundled tiny.en); speech_workers: its processes (None: one per core, at most 4)."""
        self.device = device
        self.threads = threads
        self.bundle = None
        self.checkpoint = None
        self._torch_ready = False
        self.speech = SpeechWorkers(speech_workers, speech_model=speech_model)

    def close(self) -> None:
        """Stop the speech front-end's worker processes."""
        self.speech.close()

    # ---------------------------------------------------------------- speech

    def _speech_features(self, audio, transcript, report_stage, cancelled) -> tuple:
        """(Recognition, (T, F) frame features) from the front-end's workers, cancellable."""
        def chunk_done(done, total):
            report_stage(AUDIO, done - 1, total, 1, 1)

        def block_done():  # prosody, after the last chunk: the stage is full
            report_stage(AUDIO, 0, 1, 1, 1)

        report_stage(AUDIO, 0, 1, 0, 1)
        try:
            recognition = self.speech.recognize(audio, transcript, progress=chunk_done, cancelled=cancelled)
        except SpeechModelUnavailable as exc:
            raise fail(ErrorCode.MODEL_LOAD_FAILED, f"{exc}", part="speech front-end") from None
        except SpeechWorkerError as exc:
            raise fail(ErrorCode.INTERNAL, f"{exc}", part="speech front-end") from None
        return recognition, features_from_recognition(recognition.segments, audio, on_block=block_done)

    # ---------------------------------------------------------------- model

    def _prepare_torch(self):
        if not self._torch_ready:
            self.threads = configure_threads(self.threads)
            self._torch_ready = True

    def load(self, checkpoint, style_encoder=None, stats=None, device=None) -> dict:
        """Load a checkpoint (ours or a released DiffPoseTalk file) and return its info."""
        if _reads_phone_frames(checkpoint):
            self.speech.start()  # the workers load their models while torch loads this one
        for name, path in (("checkpoint", checkpoint), ("style_encoder", style_encoder), ("stats", stats)):
            if path is not None and not Path(path).exists():
                raise fail(ErrorCode.FILE_NOT_FOUND, f"{name} {str(path)!r} does not exist; check the path",
                           path=str(path), param=name)
        device = device or self.device
        try:
            check_device_name(device)
        except DeviceUnavailable as exc:
            raise fail(ErrorCode.INVALID_PARAMS, str(exc), param="device") from None
        self._prepare_torch()
        from ..model import load_model

        try:
            chosen = str(choose_device(device))
            started = time.perf_counter()
            bundle = load_model(str(checkpoint), device=chosen, style_encoder=style_encoder, stats=stats)
        except DeviceUnavailable as exc:
            raise fail(ErrorCode.MODEL_LOAD_FAILED, str(exc), checkpoint=str(checkpoint)) from None
        except (CheckpointError, OSError, ValueError, KeyError, RuntimeError) as exc:
            raise fail(ErrorCode.MODEL_LOAD_FAILED,
                       f"cannot load {str(checkpoint)!r}: {exc}. Give our checkpoint folder, or a released "
                       "DiffPoseTalk .pt with its style encoder and stats",
                       checkpoint=str(checkpoint), exception=type(exc).__name__) from None
        log.info("loaded %s (%s) on %s in %.2f s", bundle.name, checkpoint, chosen, time.perf_counter() - started)
        self.bundle, self.checkpoint, self.device = bundle, str(checkpoint), chosen
        return self.info()

    def info(self) -> dict | None:
        if self.bundle is None:
            return None
        return {**self.bundle.info(), "fps": float(self.bundle.fps), "checkpoint": self.checkpoint,
                "device": self.device}

    def _need_model(self):
        if self.bundle is None:
            raise fail(ErrorCode.NO_MODEL, "no model is loaded; send load_model with a checkpoint first "
                       "(or start the service with --checkpoint)")
        return self.bundle

    # ---------------------------------------------------------------- style

    def _clip_motion(self, spec) -> dict:
        try:
            if spec["kind"] == "clip":
                motion = motion_io.load_motion(spec["path"])
                if spec.get("start") is not None or spec.get("end") is not None:
                    motion = motion_io.trim_motion(motion, spec.get("start"), spec.get("end"))
            else:
                motion = motion_io.check_motion({
                    "exp": np.asarray(spec["exp"], np.float32),
                    "pose": np.asarray(spec["pose"], np.float32),
                    "fps": float(spec["fps"]),
                    "expression_space": spec["expression_space"],
                }, "the style motion")
        except motion_io.MotionFileError as exc:
            if spec["kind"] == "clip" and not Path(spec["path"]).exists():
                raise fail(ErrorCode.FILE_NOT_FOUND, str(exc), path=spec["path"]) from None
            raise fail(ErrorCode.INVALID_STYLE, str(exc)) from None
        space = self.bundle.expression_space
        if motion["expression_space"] != space:
            raise fail(ErrorCode.WRONG_EXPRESSION_SPACE,
                       f"the style clip is in the {motion['expression_space']!r} expression space but the model "
                       f"uses {space!r}; give a clip recorded or converted to {space!r}",
                       clip_space=motion["expression_space"], model_space=space)
        return motion_io.resample_motion(motion, FPS)

    def style_vector(self, spec):
        """A (style_dim,) style vector for a style object, or None for no style."""
        bundle = self._need_model()
        kind = (spec or {"kind": "none"})["kind"]
        if kind == "none":
            return None
        if kind == "preset":
            presets = bundle.presets
            if spec["name"] not in presets:
                raise fail(ErrorCode.INVALID_STYLE,
                           f"unknown style preset {spec['name']!r}; this model ships "
                           f"{', '.join(sorted(presets)) or 'no presets'}", presets=sorted(presets))
            return np.asarray(presets[spec["name"]][0], np.float32)
        if kind == "vector":
            dim = bundle.config.denoiser.style_dim
            if "path" in spec:
                return self._vector_file(spec["path"], dim)
            if len(spec["values"]) != dim:
                raise fail(ErrorCode.INVALID_STYLE, f"this model's style vectors have {dim} values, the style has "
                           f"{len(spec['values'])}; take the vector from this model (encode_style or its presets)")
            return np.asarray(spec["values"], np.float32)
        vector = np.asarray(bundle.encode_style(self._clip_motion(spec)), np.float32)
        if not _within(vector, MAX_STYLE_VALUE):
            raise fail(ErrorCode.INVALID_STYLE, f"the style clip encodes to values outside -{MAX_STYLE_VALUE:g}.."
                       f"{MAX_STYLE_VALUE:g} (or NaN); its motion is far from what the model knows: give a clip "
                       "of ordinary facial motion")
        return vector

    @staticmethod
    def _vector_file(path, dim: int) -> np.ndarray:
        if not Path(path).is_file():
            raise fail(ErrorCode.FILE_NOT_FOUND, f"style vector file {str(path)!r} does not exist; check the path",
                       path=str(path))
        try:
            vector = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise fail(ErrorCode.INVALID_STYLE, f"{str(path)!r} is not a .npy style vector ({exc}); "
                       f"give a .npy file of {dim} numbers", path=str(path)) from None
        numeric = np.size(vector) == dim and np.asarray(vector).dtype.kind in "biuf"
        vector = np.asarray(vector, np.float64).reshape(-1) if numeric else None
        if vector is None or not _within(vector, MAX_STYLE_VALUE):
            raise fail(ErrorCode.INVALID_STYLE, f"{str(path)!r} must hold {dim} numbers between "
                       f"-{MAX_STYLE_VALUE:g} and {MAX_STYLE_VALUE:g}; give a style vector saved by encode_style "
                       "or taken from a model", path=str(path), limit=MAX_STYLE_VALUE)
        return vector.astype(np.float32)

    def encode_style(self, params) -> dict:
        self._need_model()
        spec = params["style"]
        vector = self.style_vector(spec)
        frames = len(spec["exp"]) if spec["kind"] == "motion" else None
        if params.get("output"):
            write_atomically(params["output"], lambda f: np.save(f, vector))
        return {"vector": [float(x) for x in vector], "output": params.get("output"), "frames": frames}

    # ---------------------------------------------------------------- generate

    @staticmethod
    def _check_output(params, n_variations=1) -> list:
        output = Path(params["output"])
        if output.suffix.lower() != ".npz":
            raise fail(ErrorCode.INVALID_PARAMS, f"output {str(output)!r} must end in .npz", param="output")
        paths = variation_paths(output, n_variations)
        if not params["overwrite"]:
            existing = [str(p) for p in paths if p.exists()]
            if existing:
                raise fail(ErrorCode.OUTPUT_FAILED, f"{existing[0]} exists and overwrite is false; "
                           "choose another output or allow overwriting", path=existing[0])
        folder = output.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not os.access(folder, os.W_OK):
            raise fail(ErrorCode.OUTPUT_FAILED, f"cannot write to {str(output.parent)!r} (no permission); "
                       "choose a writable folder", path=str(output))
        return paths

    def generate(self, params, progress=None, cancelled=None) -> dict:
        """Run one validated ``generate`` request; returns the protocol result.

        ``progress(stage, window, n_windows, step, n_steps, fraction)``; ``cancelled() -> bool``.
        Outputs are written only after the whole job succeeded, each atomically.
        """
        bundle = self._need_model()
        info = bundle.info()
        started = time.perf_counter()
        cancelled = cancelled or (lambda: False)

        def report(stage, window, n_windows, step, n_steps, fraction):
            if cancelled():
                raise Cancelled("cancelled")
            if progress is not None:
                progress(stage, window, n_windows, step, n_steps, fraction)

        from ..model.sampling import resolve_sampling  # torch is loaded with the model already

        try:
            sampling = resolve_sampling(info, params["sampler"], params["steps"], params["audio_scale"],
                                        params["style_scale"])
        except SamplingError as exc:
            limit = {} if exc.limit is None else {"limit": exc.limit}
            raise fail(ErrorCode.INVALID_PARAMS, f"generate: {exc}", param=exc.param, **limit) from None
        paths = self._check_output(params, params["n_variations"])
        adjustments = _adjustments(params, bundle.expression_space)
        style = self.style_vector(params["style"])
        kept = None if params["keep"] is None else KeptTake(params["keep"], bundle.expression_space)
        shape = None if params["shape"] is None else np.asarray(params["shape"], np.float32)
        if shape is None and kept is not None:
            shape = kept.shape()  # the new frames are of the same person as the take

        limit = min(MAX_AUDIO_SECONDS, float(info.get("max_audio_seconds") or MAX_AUDIO_SECONDS))

        def report_stage(stage, window, n_windows, step, n_steps):
            done = (window + min(step, n_steps) / max(n_steps, 1)) / max(n_windows, 1)
            low, high = _STAGE_SPAN.get(stage, _STAGE_SPAN[DENOISE])
            report(stage, window, n_windows, step, n_steps, low + (high - low) * min(1.0, done))

        audio = audio_io.load_audio(
            params["audio"], params["start"], params["end"], max_seconds=limit,
            progress=lambda f: report_stage(DECODE, 0, 1, int(f * 100), 100),
        )
        if kept is not None:
            kept.check_length(len(audio) / SAMPLE_RATE)

        def model_progress(stage, window, n_windows, step, n_steps):
            if stage == AUDIO and speech_features is not None:
                window, n_windows, step, n_steps = 0, 1, 1, 1  # the front-end's chunks filled this stage
            report_stage(stage, window, n_windows, step, n_steps)

        recognition, speech_features = None, None
        if info["audio_encoder"] == "frames":
            recognition, speech_features = self._speech_features(audio, params["transcript"], report_stage,
                                                                    cancelled)
        try:
            motions = bundle.generate(
                audio, style=style, shape=shape, audio_scale=sampling.audio_scale,
                style_scale=sampling.style_scale, sampler=sampling.sampler, steps=sampling.steps, seed=params["seed"],
                n_variations=params["n_variations"], dynamic_threshold=params["dynamic_threshold"],
                speech_features=speech_features,
                keep=None if kept is None else kept.for_model(), progress=model_progress, cancelled=cancelled,
            )
        except ValueError as exc:  # the model's own checks of its inputs
            raise fail(ErrorCode.INVALID_PARAMS, f"generate: {exc}") from None
        report_stage(WRITE, 0, 1, 0, 1)
        settings = {**self.settings(params, sampling, len(audio) / SAMPLE_RATE, recognition),
                    **adjustments.as_params()}
        # An edit is adjusted about the take's own head and jaw, so its kept frames stay the take's.
        reference = None if kept is None else reference_of(kept.take)
        outputs = []
        for index, (path, motion) in enumerate(zip(paths, motions)):
            raw = motion_io.resample_motion(motion, params["fps"])
            if kept is not None:
                raw = kept.join(raw)
            out = _adjusted_take(raw, adjustments, reference)
            out["shape"] = shape if shape is not None else motion.get("shape")
            if not (_within(out["exp"]) and _within(out["pose"])):
                raise fail(ErrorCode.OUTPUT_FAILED, "the model's motion is NaN or infinite for this request, so "
                           "nothing was written; lower the guidance scales, use a preset style, or check the "
                           "checkpoint", path=str(path))
            outputs.append((path, out, {**settings, "variation": index + 1}))
        # All variations or none: a failure (or a full disk) part way leaves no partial set.
        motion_io.save_motions(outputs)
        frames = len(outputs[-1][1]["exp"])
        if progress is not None:
            progress(WRITE, 0, 1, 1, 1, 1.0)
        return {
            "outputs": [str(p) for p in paths],
            "frames": frames,
            "fps": params["fps"],
            "duration": len(audio) / SAMPLE_RATE,
            "expression_space": bundle.expression_space,
            "settings": settings,
            "elapsed": time.perf_counter() - started,
        }

    def adjust_take(self, params) -> dict:
        """Run one validated ``adjust_take`` request: the take's raw motion with new
        adjustments, written to ``output``; no model needed, milliseconds."""
        started = time.perf_counter()
        path = params["take"]
        try:
            take = motion_io.load_motion(path)
        except motion_io.MotionFileError as exc:
            code = ErrorCode.INVALID_PARAMS if Path(path).exists() else ErrorCode.FILE_NOT_FOUND
            raise fail(code, f"adjust_take: {exc}", path=path, param="take") from None
        adjustments = _adjustments(params, take["expression_space"], "adjust_take")
        output = self._check_output(params)[0]
        out = _adjusted_take(motion_io.raw_motion(take), adjustments)
        settings = {**take.get("settings", {}), **adjustments.as_params(),
                    "expression_space": take["expression_space"], "protocol": PROTOCOL_VERSION}
        motion_io.save_motion(output, out, settings)
        return {
            "outputs": [str(output)],
            "frames": len(out["exp"]),
            "fps": float(take["fps"]),
            "duration": len(out["exp"]) / float(take["fps"]),
            "expression_space": take["expression_space"],
            "settings": settings,
            "elapsed": time.perf_counter() - started,
        }

    def settings(self, params, sampling, duration, recognition=None) -> dict:
        """What produced an output, stored in the .npz next to the motion (JSON-safe)."""
        style = params["style"] or {"kind": "none"}
        speech = None
        if recognition is not None:
            speech = {
                "speech_model": speech_model_name(self.speech.settings.get("speech_model")),
                "aligned_seconds": round(recognition.aligned_s, 3),
                "sources": sorted({chunk.source for chunk in recognition.chunks}),
                "languages": sorted({chunk.language for chunk in recognition.chunks}),
                "words": " ".join(recognition.words),
            }
        return {
            "audio": str(params["audio"]),
            "start": params["start"],
            "end": params["end"],
            "audio_seconds": round(duration, 6),
            "style": {k: v for k, v in style.items() if k not in ("exp", "pose", "values")},
            "shape_given": params["shape"] is not None,
            "audio_scale": sampling.audio_scale,
            "style_scale": sampling.style_scale,
            "sampler": sampling.sampler,
            "steps": sampling.steps,
            "seed": params["seed"],
            "n_variations": params["n_variations"],
            "dynamic_threshold": params["dynamic_threshold"],
            "transcript": params["transcript"],
            "keep": params["keep"],
            "speech": speech,
            "words": timed_words(recognition, duration),
            "fps": params["fps"],
            "model": self.bundle.name,
            "checkpoint": self.checkpoint,
            "expression_space": self.bundle.expression_space,
            "backend_version": __version__,
            "protocol": PROTOCOL_VERSION,
        }


def timed_words(recognition, duration: float) -> list:
    """The protocol's ``settings.words``: each word the front-end aligned, with its start and
    end in seconds of the take (0 = its first frame) within its ``duration``; [] without a
    recognition (a model that reads audio features knows no words)."""
    if recognition is None:
        return []
    return [{"word": word, "start": round(min(start, duration), 3), "end": round(min(end, duration), 3)}
            for word, start, end in recognition.timed_words]


def _adjustments(params, expression_space, method="generate"):
    try:
        return resolve_adjustments(params, expression_space)
    except AdjustmentError as exc:
        raise fail(ErrorCode.INVALID_PARAMS, f"{method}: {exc}", param=exc.param) from None


def _adjusted_take(raw: dict, adjustments, reference=None) -> dict:
    """What a take file holds: the adjusted motion, and the raw one to adjust again."""
    out = apply_adjustments(raw, adjustments, reference)
    out["raw_exp"], out["raw_pose"] = raw["exp"], raw["pose"]
    return out


def _reads_phone_frames(checkpoint) -> bool:
    """Whether ``checkpoint`` is our folder of a model that reads the speech front-end's
    frame features (a quick look at its config; loading checks everything)."""
    try:
        config = json.loads((Path(checkpoint) / "config.json").read_text(encoding="utf-8"))
        return config["config"]["audio_encoder"]["kind"] == "frames"
    except (OSError, ValueError, TypeError, KeyError):
        return False


def _within(values, limit=np.inf) -> bool:
    """Whether every value is finite and at most ``limit`` in magnitude."""
    values = np.asarray(values, np.float64)
    return bool(np.all(np.isfinite(values)) and np.all(np.abs(values) <= limit))


def describe_error(exc: BaseException) -> ProtocolError:
    """Any exception from a job as a ProtocolError (code + message that says what to do)."""
    if isinstance(exc, ProtocolError):
        return exc
    if isinstance(exc, Cancelled):
        return fail(ErrorCode.CANCELLED, "the job was cancelled; no output was written")
    if isinstance(exc, CheckpointError):
        return fail(ErrorCode.MODEL_LOAD_FAILED, str(exc))
    if isinstance(exc, OSError):
        return fail(ErrorCode.OUTPUT_FAILED, f"a file could not be written or read ({exc}); check the path, "
                    "free disk space and permissions", path=getattr(exc, "filename", None))
    if isinstance(exc, MemoryError):
        return fail(ErrorCode.AUDIO_TOO_LONG, "out of memory; use a shorter audio clip (start and end) or fewer "
                    "variations")
    return fail(ErrorCode.INTERNAL, f"unexpected {type(exc).__name__}: {exc}; this is a bug, please report it "
                "with the backend log", exception=type(exc).__name__)
