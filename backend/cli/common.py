"""What several commands share: the model options, the generation options of ``generate``
and ``batch`` (checked like a service request), the optimization options of the training
commands, progress logging and error printing."""
from __future__ import annotations

import logging
import sys

from .. import DEFAULT_MODEL_DIR, protocol

log = logging.getLogger(__name__)


def report_error(exc: BaseException) -> int:
    """Print a command's failure as the service reports it, one line with its code; returns 1."""
    from ..service.runner import describe_error

    error = describe_error(exc)
    print(f"error [{error.code}]: {error.message}", file=sys.stderr)
    return 1


def add_checkpoint_arguments(parser, default_help="none"):
    parser.add_argument("--checkpoint", help="our checkpoint folder, or a released DiffPoseTalk denoiser .pt "
                        f"(default: {default_help})")
    parser.add_argument("--style-encoder", help="released DiffPoseTalk style encoder .pt (with a released checkpoint)")
    parser.add_argument("--stats", help="released DiffPoseTalk stats .npz (with a released checkpoint)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: the cores this process may use, at most 8)")
    parser.add_argument("--speech-model", default=None, metavar="FOLDER",
                        help="a faster-whisper (CTranslate2) model folder for the speech recognizer, e.g. base, "
                        "small or a multilingual one (default: the bundled tiny.en)")
    parser.add_argument("--speech-workers", type=int, default=None, metavar="N",
                        help="processes of the speech front-end (default: one per core, at most 4)")


def default_checkpoint():
    """The model shipped with the backend, if this installation has it."""
    return str(DEFAULT_MODEL_DIR) if (DEFAULT_MODEL_DIR / "config.json").exists() else None


def add_generation_arguments(parser):
    """Options shared by ``generate`` and ``batch`` (defaults are the protocol's)."""
    fields = protocol.PARAMS[protocol.Method.GENERATE]
    parser.add_argument("--style", default=None,
                        help="none, a preset name of the model, a style vector .npy (the model's style_dim values) or a motion clip "
                        ".npz in the model's expression space (default: none)")
    parser.add_argument("--shape", default=None, help="FLAME identity: .npy of 100 values or .npz with 'shape'")
    parser.add_argument("--audio-scale", type=float, default=None, help="audio guidance scale (default: the model's)")
    parser.add_argument("--style-scale", type=float, default=None, help="style guidance scale (default: the model's)")
    parser.add_argument("--head-motion-scale", type=float, default=fields["head_motion_scale"].default,
                        help="scale of the head rotation about its mean (0 holds the head still)")
    arkit_only = " (ARKit models only)"
    for region, what in (("mouth", "the lip shapes; closed lips stay closed" + arkit_only),
                         ("jaw", "the jaw opening; closures stay closed"), ("brow", "the brows" + arkit_only),
                         ("eye", "gaze, squint and wide eyes; blinks stay whole" + arkit_only)):
        parser.add_argument(f"--{region}-scale", type=float, default=fields[f"{region}_scale"].default,
                            help=f"intensity 0..{protocol.MAX_REGION_SCALE:g} of {what}")
    parser.add_argument("--lip-sync-offset", type=int, default=fields["lip_sync_offset"].default, metavar="FRAMES",
                        help="frames (at --fps) the motion comes after the sound; negative: before")
    parser.add_argument("--smoothing", type=float, default=fields["smoothing"].default,
                        help="smoothing strength 0..1 (closures and blinks are kept)")
    parser.add_argument("--sampler", default=None, help="sampler (default: the model's)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    parser.add_argument("--seed", type=int, default=fields["seed"].default, help="random seed")
    parser.add_argument("-n", "--variations", type=int, default=1, help="number of variations (written as _1, _2...)")
    parser.add_argument("--fps", type=float, default=fields["fps"].default,
                        help="output frame rate, e.g. 23.976, 24, 25, 29.97, 30, 50, 60 (default 25)")
    parser.add_argument("--dynamic-threshold", type=float, default=0.0, help="dynamic thresholding ratio (0 = off)")
    add_checkpoint_arguments(parser, "the shipped model")


def style_from_arg(value):
    """--style value -> protocol style object."""
    if value is None or value.lower() == "none":
        return None
    if value.lower().endswith(".npy"):
        return {"kind": "vector", "path": value}
    if value.lower().endswith(".npz"):
        return {"kind": "clip", "path": value}
    return {"kind": "preset", "name": value}


def shape_from_arg(value):
    if value is None:
        return None
    import numpy as np

    try:
        data = np.load(value, allow_pickle=False)
        array = data["shape"] if value.lower().endswith(".npz") else data
        return [float(x) for x in np.asarray(array, np.float64).reshape(-1)]
    except (OSError, ValueError, KeyError) as exc:
        raise protocol.ProtocolError(protocol.ErrorCode.INVALID_PARAMS,
                                     f"cannot read the shape file {value!r} ({exc}); give a .npy of "
                                     f"{protocol.SHAPE_DIM} values or an .npz with 'shape'", {"param": "shape"})


def generation_params(args, audio, output, start=None, end=None, overwrite=True, keep=None) -> dict:
    """Validated ``generate`` params for one file (``keep``: the protocol's object, or None)."""
    params = {
        "audio": str(audio), "output": str(output), "start": start, "end": end,
        "style": style_from_arg(args.style), "shape": shape_from_arg(args.shape),
        "audio_scale": args.audio_scale, "style_scale": args.style_scale,
        "head_motion_scale": args.head_motion_scale, "mouth_scale": args.mouth_scale, "jaw_scale": args.jaw_scale,
        "brow_scale": args.brow_scale, "eye_scale": args.eye_scale, "lip_sync_offset": args.lip_sync_offset,
        "smoothing": args.smoothing, "sampler": args.sampler, "steps": args.steps,
        "seed": args.seed, "n_variations": args.variations, "fps": args.fps,
        "dynamic_threshold": args.dynamic_threshold, "overwrite": overwrite, "keep": keep,
    }
    if getattr(args, "transcript", None) is not None:
        params["transcript"] = args.transcript
    return protocol.validate_params(protocol.Method.GENERATE, params)


def load_runner(args):
    """A Runner with the model of ``--checkpoint`` (or the shipped one) loaded."""
    from ..service.runner import Runner

    checkpoint = args.checkpoint or default_checkpoint()
    if checkpoint is None:
        raise protocol.ProtocolError(protocol.ErrorCode.NO_MODEL,
                                     "no model: pass --checkpoint (our checkpoint folder or a released .pt)")
    runner = Runner(args.device, args.threads, args.speech_model, args.speech_workers)
    try:
        runner.load(checkpoint, args.style_encoder, args.stats)
    except BaseException:
        runner.close()
        raise
    return runner


def print_summary(summary: dict):
    """An evaluation summary on stdout: a line per kind of clip, its measures as name=value."""
    for kind, values in summary.items():
        print(kind, " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()))


def log_progress():
    """A progress callback that logs each stage and every tenth of the job to stderr."""
    state = {"stage": None, "tenth": -1}

    def progress(stage, window, n_windows, step, n_steps, fraction):
        tenth = int(fraction * 10)
        if stage != state["stage"] or tenth != state["tenth"]:
            state.update(stage=stage, tenth=tenth)
            log.info("%3.0f%% %s (window %d/%d)", 100 * fraction, stage, window + 1, n_windows)

    return progress


def add_loop_arguments(parser, defaults):
    """The optimization options of the training commands; ``defaults`` is the command's LoopConfig."""
    group = parser.add_argument_group("optimization")
    group.add_argument("--steps", type=int, default=defaults.steps, help=f"training steps (default: {defaults.steps})")
    group.add_argument("--batch-size", type=int, default=defaults.batch_size,
                       help=f"samples per process and step (default: {defaults.batch_size})")
    group.add_argument("--lr", type=float, default=defaults.lr, help=f"Adam learning rate (default: {defaults.lr:g})")
    group.add_argument("--warmup", type=int, default=defaults.warmup,
                       help=f"steps of linear learning-rate warm-up (default: {defaults.warmup})")
    group.add_argument("--log-every", type=int, default=defaults.log_every, help="steps between log lines")
    group.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every,
                       help="steps between checkpoints (resume state and model files)")
    group.add_argument("--seed", type=int, default=defaults.seed)
    group.add_argument("--workers", type=int, default=defaults.num_workers, help="DataLoader worker processes")
    group.add_argument("--grad-clip", type=float, default=defaults.grad_clip, help="gradient norm clip (0 = off)")
    group.add_argument("--decay", type=float, default=defaults.decay,
                       help="fraction of the steps at the end over which the rate falls linearly to 10%% (default: 0)")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    group.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores, at most 8)")


def loop_config(args):
    """The LoopConfig of the options ``add_loop_arguments`` added."""
    from ..training.loop import LoopConfig

    return LoopConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
                      log_every=args.log_every, checkpoint_every=args.checkpoint_every, seed=args.seed,
                      num_workers=args.workers, grad_clip=args.grad_clip, decay=args.decay)
