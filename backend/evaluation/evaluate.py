"""A model's report on held-out clips and real speech (``python -m backend evaluate``).

Held-out clips (a corpus split with ground truth) give LVE, FDD, MOD, beat alignment,
style fidelity, diversity across seeds and lip-sync measures against the clips' true
phone times. Real recordings (a folder of audio files with same-named .txt transcripts)
give the lip-sync measures against phone times from forced alignment
(``backend.speech.recognizer``). Writes report.md, metrics.json and PNG plots.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from ..timebase import FPS, SAMPLE_RATE

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


def _clip_motion(clip, frames: int) -> dict:
    return {"exp": clip.exp[:frames], "pose": clip.pose[:frames], "shape": clip.shape}


def crop_segments(segments, seconds: float) -> list:
    return [(p, s, min(e, seconds)) for p, s, e in segments if s < seconds]


def features_for(bundle, audio, transcript=None, true_phones=None):
    """The ``speech_features`` of ``bundle.generate`` for ``audio``: None for a model that
    reads the waveform; from ``true_phones`` (a clip's true phone times, no recognizer: the
    model's lip sync apart from the recognizer's errors) when given; else recognized from
    the audio (with ``transcript`` when known), as the service does."""
    if bundle.config.audio_encoder.kind != "frames":
        return None
    from ..speech.features import features_from_audio, features_from_segments

    if true_phones is not None:
        return features_from_segments(true_phones, audio, corrupt=False)
    return features_from_audio(audio, transcript)


def evaluate_corpus(bundle, ehead, corpus, split: str, max_clips: int, max_seconds: float, seeds: int,
                    diversity_clips: int, generate_kwargs: dict, with_recognizer: bool = True):
    """-> (results, style summary, plot inputs of the first clip).

    A "frames" model is run twice per clip: with the recognizer (the product path, kind
    "synthetic"; left out when ``with_recognizer`` is False) and with the clip's true phone
    times (kind "synthetic, true phones"); the ground-truth motion is measured too (kind
    "ground truth").
    """
    from ..data.format import load_audio, load_clip, read_manifest
    from .metrics import cosine_similarity
    from .report import evaluate_clip, style_fidelity

    records = [r for r in read_manifest(corpus, split) if r.frames >= 100]
    if not records:
        raise ValueError(f"{corpus} has no clip of 4 s or more in split {split!r}; pass another --split")
    # Spread the clips over speakers: first clip of each speaker, then second ones...
    by_speaker: dict = {}
    for record in records:
        by_speaker.setdefault(record.speaker, []).append(record)
    order = [group[i] for i in range(max(map(len, by_speaker.values()))) for group in by_speaker.values()
             if i < len(group)][:max_clips]
    frames_model = bundle.config.audio_encoder.kind == "frames"
    runs = [("synthetic", False)] if with_recognizer or not frames_model else []
    if frames_model:
        runs.append(("synthetic, true phones", True))
    results, outputs, references, first = [], {}, {}, {}
    for k, record in enumerate(order):
        clip = load_clip(Path(corpus) / record.motion)
        frames = min(clip.frames, int(max_seconds * FPS))
        audio = load_audio(Path(corpus) / record.audio, 0, frames)
        truth = _clip_motion(clip, frames)
        segments = crop_segments(clip.phones or [], frames / FPS)
        # The style reference is another clip of the same speaker when there is one.
        others = [r for r in by_speaker[record.speaker] if r.id != record.id]
        ref_clip = load_clip(Path(corpus) / others[0].motion) if others else clip
        style = bundle.encode_style(_clip_motion(ref_clip, ref_clip.frames))
        references[record.id] = (record.speaker, style)
        # The ground truth through the same measures: the ceiling the training data sets.
        results.append(evaluate_clip(ehead, truth, audio, segments, record.id, kind="ground truth"))
        for kind, true_phones in runs:
            n = seeds if k < diversity_clips and kind == "synthetic" else 1
            features = features_for(bundle, audio, record.meta.get("text"), segments if true_phones else None)
            motions = bundle.generate(audio, style=style, shape=clip.shape, n_variations=n, speech_features=features,
                                      **generate_kwargs)
            result = evaluate_clip(ehead, motions[0], audio, segments, record.id, truth, motions[1:] or None, kind)
            output_style = bundle.encode_style(motions[0])
            result.style["style_cosine_own"] = cosine_similarity(output_style, style)
            if kind == "synthetic":
                outputs[record.id] = (record.speaker, output_style)
            results.append(result)
            first.setdefault(kind, (motions[0], segments, truth, record.id))
            log.info("%s (%s): bilabials closed %.2f, open vowels open %.2f, LVE %.2f mm", record.id, kind,
                     result.lipsync["bilabials_closed"], result.lipsync["open_vowels_open"], result.vertex["lve_mm"])
    return results, style_fidelity(outputs, references), first


def real_recordings(folder) -> list:
    """(audio path, transcript) pairs of a folder; every audio file needs its .txt."""
    folder = Path(folder)
    pairs = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in AUDIO_SUFFIXES:
            text = path.with_suffix(".txt")
            if not text.exists():
                raise FileNotFoundError(f"{path} has no transcript {text.name}; real-speech lip sync needs phone times")
            pairs.append((path, text.read_text().strip()))
    if not pairs:
        raise FileNotFoundError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {folder}")
    return pairs


def evaluate_real(bundle, ehead, folder, generate_kwargs: dict):
    """-> (results, plot inputs of the first recording)."""
    from ..audio_io import load_audio
    from ..speech.recognizer import recognize
    from .report import evaluate_clip

    results, first = [], None
    for path, transcript in real_recordings(folder):
        audio = load_audio(path)
        recognition = recognize(audio, transcript)
        if recognition.aligned_s < 0.5 * len(audio) / SAMPLE_RATE:
            log.warning("%s: forced alignment covered only %.1f of %.1f s; phone times are partly the phone loop's",
                        path.name, recognition.aligned_s, len(audio) / SAMPLE_RATE)
        # With the transcript (generate's --transcript) and without: the add-on sends none,
        # so the recognizer alone is what its takes get.
        for kind, text in (("real", transcript), ("real, no transcript", None)):
            motion = bundle.generate(audio, speech_features=features_for(bundle, audio, text), **generate_kwargs)[0]
            result = evaluate_clip(ehead, motion, audio, recognition.segments, path.stem, kind=kind)
            results.append(result)
            if first is None:
                first = (motion, recognition.segments, None, path.stem)
            log.info("%s (%s): bilabials closed %.2f, open vowels open %.2f, rest closed %.2f", path.stem, kind,
                     result.lipsync["bilabials_closed"], result.lipsync["open_vowels_open"],
                     result.lipsync["rest_closed"])
    return results, first


def evaluate(model, out, corpus=None, split="test", real=None, clips=8, seconds=12.0, seeds=3, diversity_clips=2,
             flame=None, sampler=None, steps=None, audio_scale=None, style_scale=None) -> dict:
    """Evaluate ``model`` (a folder or a loaded bundle) and write the report to ``out``.
    Returns the summary ({"synthetic": {...}, "real": {...}})."""
    from ..heads import load_head
    from ..model import load_model
    from .report import aggregate, eval_head, mouth_plot, write_report

    if corpus is None and real is None:
        raise ValueError("nothing to evaluate: give a corpus with held-out clips (--corpus) and/or recordings (--real)")
    started = time.monotonic()
    bundle = load_model(model) if isinstance(model, (str, Path)) else model
    if bundle.expression_space == "flame" and flame is None:
        raise ValueError("this model animates FLAME: pass --flame PATH to the FLAME model file for the vertex metrics")
    ehead = eval_head(load_head("builtin" if bundle.expression_space == "arkit" else flame))
    audio_scale, style_scale = bundle.guidance_scales(audio_scale, style_scale)
    kwargs = {"sampler": sampler, "steps": steps, "audio_scale": audio_scale, "style_scale": style_scale}
    results, plots, setup = [], {}, {"model": bundle.name, "sampler": sampler or bundle.sampling["default_sampler"],
                                     "steps": steps or bundle.sampling["default_steps"],
                                     "audio scale": audio_scale, "style scale": style_scale}
    style = {}
    if corpus is not None:
        synthetic, style, first = evaluate_corpus(bundle, ehead, corpus, split, clips, seconds, seeds,
                                                  diversity_clips, kwargs)
        results += synthetic
        for kind, (motion, segments, truth, name) in first.items():
            key = "mouth_heldout" if kind == "synthetic" else "mouth_heldout_true_phones"
            plots[key] = (f"Mouth opening on held-out clip {name} ({kind})", mouth_plot(ehead, motion, segments, truth))
        setup["held-out"] = f"{corpus} split {split}"
    if real is not None:
        real_results, first = evaluate_real(bundle, ehead, real, kwargs)
        results += real_results
        motion, segments, _, name = first
        plots["mouth_real"] = (f"Mouth opening on real recording {name}", mouth_plot(ehead, motion, segments))
        setup["real speech"] = str(real)
    summary = aggregate(results)
    if "synthetic" in summary:
        summary["synthetic"].update(style)
    setup["time"] = f"{time.monotonic() - started:.0f} s"
    path = write_report(out, f"Evaluation of {bundle.name}", summary, results, plots, setup)
    log.info("report written to %s", path)
    return summary
