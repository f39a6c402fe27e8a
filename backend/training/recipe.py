"""The recipe of the shipped default model, from nothing (``python -m backend train-default``).

1. generate the synthetic corpus (espeak-ng speech + procedural ARKit faces) if missing;
2. train the style encoder (NT-Xent);
3. train the denoiser: compact network, phonetic ("frames") audio encoder on
   ``backend.speech`` features, vertex losses through the built-in head;
4. choose the default guidance scales on the validation speakers;
5. add the named style presets;
6. evaluate on held-out speakers (and real recordings with --real) and write the model
   to backend/models/default and the report to docs/evaluation.md.

Every stage resumes where it stopped: run the same command again after an interruption.
The sizes are chosen so that the whole recipe takes about an hour on an idle 2-core CPU.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
MODEL_NAME = "default"
MAX_MODEL_BYTES = 25 * 2**20


@dataclass
class Recipe:
    clips: int = 300  # about an hour of speech
    speakers: int = 60
    style_steps: int = 400
    style_batch: int = 32
    style_layers: int = 2
    style_lr: float = 1e-3  # ten times the reference's: at 1e-4 a few hundred steps leave it blind to head motion
    style_warmup: int = 30
    denoiser_steps: int = 1800
    denoiser_batch: int = 12
    lr: float = 1e-3
    warmup: int = 100
    width: int = 128
    layers: int = 4
    loss_vertices: int = 800
    checkpoint_every: int = 250
    eval_clips: int = 8
    guidance_clips: int = 4
    # Head terms far above the reference's (5 and 0.5): at those the network's head
    # prediction jitters about 0.6 degrees from frame to frame, twenty times the corpus's.
    head_velocity_weight: float = 500.0
    head_smooth_weight: float = 1000.0
    # Fine-tuning a trained model (``--start-from``) instead of the denoiser from nothing.
    finetune_steps: int = 800
    finetune_lr: float = 5e-4
    finetune_warmup: int = 50
    # The head prior's low-pass (model/head_prior.py), in frames: on the 4 validation
    # speakers 5 gave their heads' speed (3.9 against 4.0 degrees/s) at their amplitude;
    # 3 was too fast (5.1), 8 too slow (3.1).
    head_smoothing_frames: float = 5.0

    def loss_weights(self):
        from .losses import LossWeights

        return LossWeights(head_velocity=self.head_velocity_weight, head_smooth=self.head_smooth_weight)


def default_config(recipe: Recipe, feature_dim: int):
    """Compact denoiser on phonetic frame features; ARKit with head pose (D = 54)."""
    from ..model.config import AudioEncoderConfig, DenoiserConfig, ModelConfig, StyleEncoderConfig

    return ModelConfig(
        DenoiserConfig(width=recipe.width, n_layers=recipe.layers, n_heads=4, ffn_dim=4 * recipe.width),
        StyleEncoderConfig(n_layers=recipe.style_layers),
        AudioEncoderConfig(kind="frames", out_dim=recipe.width, feature_dim=feature_dim, hidden=recipe.width,
                           n_layers=3, kernel_size=5),
    )


def make_corpus(root: Path, recipe: Recipe, seed: int = 0):
    from ..data.synthetic.generate import CorpusConfig, generate_corpus

    if (root / "manifest.jsonl").exists() and (root / "stats.npz").exists():
        log.info("corpus %s is there", root)
        return
    config = CorpusConfig(seed=seed, n_clips=recipe.clips, n_speakers=recipe.speakers)
    log.info("generating the synthetic corpus in %s (%d clips, %d speakers)", root, recipe.clips, recipe.speakers)
    summary = generate_corpus(root, config, workers=max(1, os.cpu_count() or 1))
    log.info("corpus: %s", summary)


def add_presets(checkpoint: Path, corpus: Path, out: Path, head_smoothing_frames: float):
    """Copy the trained checkpoint to ``out`` with the named style presets and, for a model
    with head pose and style statistics, the head prior (``model/head_prior.py``: the
    neutral preset's head spread when no style is given) added."""
    from ..model.checkpoint import load_checkpoint, save_checkpoint
    from ..model.head_prior import head_spread_of_style
    from .presets import make_presets

    loaded = load_checkpoint(checkpoint)
    d = loaded.config.denoiser
    loaded.presets = make_presets(loaded.style_encoder, corpus, loaded.stats, d.head_pose)
    loaded.name = MODEL_NAME
    if d.head_pose and d.statistics_dim:
        neutral = loaded.presets["neutral"][0]
        loaded.sampling["head_prior"] = {
            "smoothing_frames": head_smoothing_frames,
            "default_spread": head_spread_of_style(neutral, d.motion_dim, d.statistics_dim).round(5).tolist()}
    save_checkpoint(out, loaded)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    if size > MAX_MODEL_BYTES:
        raise RuntimeError(f"the model is {size / 2**20:.1f} MiB, over the {MAX_MODEL_BYTES / 2**20:.0f} MiB "
                           "limit for the shipped model; lower --width or --layers")
    log.info("model written to %s (%.1f MiB, presets: %s)", out, size / 2**20, ", ".join(loaded.presets))
    return size


def load_seconds(model: Path) -> float:
    from ..model import load_model

    started = time.monotonic()
    load_model(model)
    return time.monotonic() - started


def choose_guidance(checkpoint: Path, corpus: Path, clips: int):
    """-> (chosen GuidanceTrial, markdown table of the search) on the validation split."""
    from ..model import load_model
    from .guidance_search import best_trial, search_guidance, trials_table

    trials = search_guidance(load_model(checkpoint), corpus, "val", clips)
    chosen = best_trial(trials)
    log.info("default guidance: audio %g, style %g", chosen.audio_scale, chosen.style_scale)
    return chosen, trials_table(trials, chosen)


def training_summary(recipe: Recipe, corpus: Path, size: int, seconds: dict, losses: dict, load_s: float,
                     guidance_table: str, start_from: Path | None = None) -> str:
    """The markdown paragraph that says how the model in the report was made."""
    from ..data.format import read_manifest
    from ..timebase import FPS

    records = read_manifest(corpus)
    train = [r for r in records if r.split == "train"]
    minutes = sum(r.frames for r in train) / FPS / 60
    data = (f"{len(train)} training clips ({minutes:.0f} min of synthetic speech, "
            f"{len({r.speaker for r in train})} speakers)")
    if start_from is None:
        made = (f"`python -m backend train-default` (docs/training.md) on this machine's CPU: {data}, style encoder "
                f"{recipe.style_steps} steps, denoiser {recipe.denoiser_steps} steps of batch {recipe.denoiser_batch} "
                f"(width {recipe.width}, {recipe.layers} layers).")
    elif recipe.finetune_steps == 0:
        made = (f"`python -m backend train-default --start-from {start_from} --finetune-steps 0` (docs/training.md) "
                "on this machine's CPU: that model's networks and style encoder as they are, with the stages after "
                "training (presets, head prior, guidance, evaluation) run again.")
    else:
        made = (f"`python -m backend train-default --start-from {start_from}` (docs/training.md) on this machine's "
                f"CPU: that model's networks and style encoder, fine-tuned on {data} for {recipe.finetune_steps} steps "
                f"of batch {recipe.denoiser_batch} with the style statistics and the paired style edits.")
    lines = [
        "- Made by " + made,
        "- Wall time: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in seconds.items()) + ".",
        f"- Model: {size / 2**20:.1f} MiB, loads in {load_s:.2f} s (torch already imported).",
        *(["- Last logged denoiser losses (unweighted): " + ", ".join(f"{k} {v:.3g}" for k, v in losses.items()) + "."]
          if losses else []),
        "- Default guidance, chosen on the validation speakers (true phone times, 20 steps): the best style "
        "transfer (controlled references, `backend/evaluation/style_transfer.py`; 1 = every target reached) among "
        "the pairs within 0.02 of the best lip-sync score (the mean of the closure, open-vowel and rest rates); "
        "the bold row is stored in the model and used below:",
        "",
        guidance_table,
    ]
    return "\n".join(lines)


def publish_report(evaluation: Path, report: Path, preamble: str = ""):
    """Copy report.md to ``report`` with its images next to it under images/evaluation/,
    ``preamble`` (markdown) after its title."""
    images = report.parent / "images" / "evaluation"
    images.mkdir(parents=True, exist_ok=True)
    title, _, rest = (evaluation / "report.md").read_text().partition("\n")
    text = f"{title}\n\n{preamble}\n{rest}" if preamble else f"{title}\n{rest}"
    for png in evaluation.glob("*.png"):
        shutil.copy(png, images / png.name)
    relative = os.path.relpath(images, report.parent)
    text = re.sub(r"\]\(([^)/]+\.png)\)", lambda m: f"]({relative}/{m.group(1)})", text)
    # the report is read in the repository: this machine's checkout path means nothing there
    report.write_text(text.replace(f"{ROOT}{os.sep}", ""))


STYLE_INTRO = """## Style transfer

How far the output follows its style reference (`benchmarks/style_transfer.py`, which also
prints the held-out speakers and the presets): held-out test speakers, 8 s of another
speaker's speech from its true phone times, seed 0. A reference has one property changed
(head motion scaled about its mean, smile or brows raised, jaw motion scaled); the figure
is the output under the changed reference against the output under the unchanged one (a
ratio for motion, a difference for ARKit values). "truth": the speaker's own motion is
edited; "take": the model's take of that speaker's speech without a style.

"""


def add_style_section(model: Path, corpus: Path, report: Path, speakers: int = 4):
    """Put the style-transfer table of ``model`` into ``report`` after its lip-sync table."""
    from ..evaluation.style_transfer import controlled_table
    from ..model import load_model

    section = STYLE_INTRO + controlled_table(load_model(model), corpus, "test", speakers) + "\n"
    text = report.read_text()
    head, marker, tail = text.partition("\n## Per clip")
    report.write_text(head + "\n" + section + marker + tail if marker else text + "\n" + section)


def _logged_losses(run: Path) -> dict:
    """The last logged losses of a finished run (when this call only resumed it)."""
    import torch

    from .loop import STATE_NAME

    path = run / STATE_NAME
    return torch.load(path, weights_only=True).get("losses", {}) if path.exists() else {}


def _train_denoiser_stage(recipe: Recipe, work: Path, corpus: Path, config, style_encoder, steps: int, lr: float,
                          warmup: int, device: str, workers: int, start_from: Path | None) -> tuple:
    """Train (or fine-tune) the denoiser in ``work/denoiser``; -> (its checkpoint folder,
    the last logged losses)."""
    from .augment import StyleEditRates
    from .loop import LoopConfig
    from .stages import CHECKPOINT_DIR, train_denoiser

    result = train_denoiser(corpus, work / "denoiser", config, style_encoder, LoopConfig(
        steps=steps, batch_size=recipe.denoiser_batch, lr=lr, warmup=warmup,
        log_every=25, checkpoint_every=min(recipe.checkpoint_every, steps), num_workers=workers, grad_clip=1.0,
        decay=0.5),
        device, name=MODEL_NAME, loss_vertices=recipe.loss_vertices, weights=recipe.loss_weights(),
        style_edits=StyleEditRates(), style_statistics=True, start_from=start_from)
    return work / "denoiser" / CHECKPOINT_DIR, result.losses or _logged_losses(work / "denoiser")


def set_sampling(model: Path, sampling: dict) -> int:
    """Store ``sampling`` (defaults such as the guidance scales) in the model at ``model``;
    -> the model's size in bytes."""
    from ..model.checkpoint import load_checkpoint, save_checkpoint

    loaded = load_checkpoint(model)
    loaded.sampling.update(sampling)
    save_checkpoint(model, loaded)
    return sum(p.stat().st_size for p in model.iterdir() if p.is_file())


def train_default(recipe: Recipe, work: Path, out: Path, report: Path, corpus: Path | None = None,
                  real: Path | None = None, device: str = "auto", workers: int = 1,
                  start_from: Path | None = None) -> dict:
    """Run every stage of ``recipe`` in ``work`` (a stage done before is resumed or kept), write
    the model to ``out`` and the report to ``report``; ``corpus``: use it instead of generating
    ``<work>/corpus``; ``start_from``: a trained model to fine-tune (its style encoder and
    normalization are kept) instead of training both networks from nothing. Returns the
    evaluation summary."""
    import torch

    from ..evaluation.evaluate import evaluate
    from ..speech.features import FEATURE_DIM
    from .loop import LoopConfig
    from .stages import train_style_encoder

    generate = corpus is None
    corpus = corpus or work / "corpus"
    seconds, clock = {}, time.monotonic()

    def lap(name):
        nonlocal clock
        seconds[name] = time.monotonic() - clock
        clock = time.monotonic()
        log.info("%s done in %.0f s", name, seconds[name])

    if generate:
        make_corpus(corpus, recipe)
        lap("corpus")
    torch.manual_seed(0)
    if start_from is None:
        config = default_config(recipe, FEATURE_DIM)
        train_style_encoder(corpus, work / "style", config.style_encoder, LoopConfig(
            steps=recipe.style_steps, batch_size=recipe.style_batch, lr=recipe.style_lr, warmup=recipe.style_warmup,
            log_every=50, checkpoint_every=100), device)
        lap("style encoder")
        style_encoder = work / "style"
        steps, lr, warmup = recipe.denoiser_steps, recipe.lr, recipe.warmup
    else:
        from ..model.checkpoint import load_checkpoint

        trained = load_checkpoint(start_from)
        config, style_encoder = trained.config, trained.style_encoder
        steps, lr, warmup = recipe.finetune_steps, recipe.finetune_lr, recipe.finetune_warmup
    if steps == 0 and start_from is not None:
        # Only the stages after training, on the given model's networks as they are.
        checkpoint, losses = start_from, {}
    else:
        checkpoint, losses = _train_denoiser_stage(recipe, work, corpus, config, style_encoder, steps, lr, warmup,
                                                   device, workers, start_from)
        lap("denoiser" if start_from is None else "fine-tuning")
    # The presets and the head prior first: the guidance is chosen on the model as it ships.
    add_presets(checkpoint, corpus, out, recipe.head_smoothing_frames)
    chosen, guidance_table = choose_guidance(out, corpus, recipe.guidance_clips)
    lap("guidance")
    size = set_sampling(out, {"default_audio_scale": chosen.audio_scale, "default_style_scale": chosen.style_scale})
    evaluation = work / "evaluation"
    summary = evaluate(out, evaluation, corpus=corpus, split="test", real=real, clips=recipe.eval_clips)
    lap("evaluation")
    publish_report(evaluation, report, training_summary(recipe, corpus, size, seconds, losses, load_seconds(out),
                                                        guidance_table, start_from))
    add_style_section(out, corpus, report)
    log.info("all done in %.0f s", sum(seconds.values()))
    return summary
