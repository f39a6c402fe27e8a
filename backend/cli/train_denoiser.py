"""``python -m backend train-denoiser``: stage 2, the denoiser with a frozen style encoder.

Single process, or several with ``torchrun --nproc_per_node=K -m backend train-denoiser ...``.
Running it again with the same --out resumes from the last checkpoint; the model in our
checkpoint format is in ``<out>/checkpoint``.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..training.loop import LoopConfig
from .common import add_loop_arguments, loop_config

DEFAULTS = LoopConfig(steps=100000, batch_size=16, lr=1e-4, warmup=5000, log_every=100, checkpoint_every=2000)
AUDIO_KINDS = ("frames", "mel", "hubert", "wav2vec2")


def add_arguments(parser):
    parser.add_argument("--corpus", type=Path, required=True, help="corpus folder (docs/dataset.md)")
    parser.add_argument("--style-encoder", type=Path, required=True,
                        help="a train-style run folder, or a model checkpoint folder to take the encoder from")
    parser.add_argument("--out", type=Path, required=True, help="run folder (log, resume state, checkpoint/)")
    parser.add_argument("--preset", choices=("compact", "reference"), default="compact",
                        help="network size: compact (CPU-friendly) or reference (the released architecture)")
    parser.add_argument("--audio", choices=AUDIO_KINDS, default="frames",
                        help="audio encoder: frames (phonetic features, backend.speech), mel, hubert, wav2vec2")
    parser.add_argument("--pretrained-audio", type=Path,
                        help="local HuBERT / wav2vec2 weights folder (transformers layout) to start the audio encoder from")
    parser.add_argument("--config", type=Path, help="a JSON model config (ModelConfig.to_dict()) instead of --preset")
    parser.add_argument("--name", default="model", help="model name stored in the checkpoint")
    parser.add_argument("--flame", type=Path, help="FLAME model file for the vertex losses of a 'flame' corpus")
    parser.add_argument("--no-vertex-loss", action="store_true", help="train without the vertex losses")
    parser.add_argument("--loss-vertices", type=int, default=0,
                        help="vertices the vertex losses use: landmarks plus this many random skin vertices (0 = all)")
    parser.add_argument("--loss-lip-region", action="store_true",
                        help="with --loss-vertices: also every vertex of the lip region (weights the lips more)")
    parser.add_argument("--no-truncation", action="store_true", help="turn off the truncation augmentation")
    parser.add_argument("--style-from-other-window", action="store_true",
                        help="encode a window's style from the sample's other window, as the reference "
                        "(default: from another clip of the same speaker)")
    parser.add_argument("--style-edits", action="store_true",
                        help="edit head amplitude, jaw range and ARKit offsets of target and style reference "
                        "together in some samples, so that the model follows its reference")
    parser.add_argument("--style-statistics", action="store_true",
                        help="add the reference's channel means and spreads to the style vector")
    parser.add_argument("--start-from", type=Path,
                        help="a checkpoint folder to fine-tune (its normalization stats are kept)")
    add_loop_arguments(parser, DEFAULTS)


def model_config(args, head_pose: bool):
    from ..model.config import ModelConfig, compact, reference

    if args.config is not None:
        return ModelConfig.from_dict(json.loads(args.config.read_text()))
    if args.preset == "reference":
        config = reference(head_pose)
        if args.audio != "hubert":
            from ..model.config import AudioEncoderConfig

            config.audio_encoder = AudioEncoderConfig(kind=args.audio)
        return config
    feature_dim = 0
    if args.audio == "frames":
        from ..speech.features import FEATURE_DIM

        feature_dim = FEATURE_DIM
    return compact(head_pose, audio=args.audio, feature_dim=feature_dim)


def run(args) -> int:
    from ..device import configure_threads
    from ..training.augment import StyleEditRates
    from ..training.stages import load_style_encoder, train_denoiser

    configure_threads(args.threads)
    encoder = load_style_encoder(args.style_encoder)
    config = model_config(args, head_pose=encoder.cfg.motion_dim == 54)
    result = train_denoiser(args.corpus, args.out, config, encoder, loop_config(args), args.device, name=args.name,
                          flame=args.flame, vertex_loss=not args.no_vertex_loss, loss_vertices=args.loss_vertices,
                          loss_lips=args.loss_lip_region,
                          truncation=not args.no_truncation, pretrained_audio=args.pretrained_audio,
                          style_from_other_clips=not args.style_from_other_window,
                          style_edits=StyleEditRates() if args.style_edits else None,
                          style_statistics=args.style_statistics, start_from=args.start_from)
    print(f"model in {args.out / 'checkpoint'}: " + " ".join(f"{k} {v:.4g}" for k, v in result.losses.items()))
    return 0
