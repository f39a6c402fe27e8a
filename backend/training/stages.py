"""The two training stages as functions the command line and the default recipe call.

Stage 1, ``train_style_encoder``: writes ``style_encoder.safetensors`` and
``style_encoder.json`` (its config and motion vector) into the run folder.
Stage 2, ``train_denoiser``: loads that encoder frozen and writes our checkpoint format
(``backend.model.checkpoint``) into ``<run folder>/checkpoint`` at every checkpoint.
Both resume from ``<run folder>/state.pt``.
"""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ..data.dataset import MotionWindows
from ..model.stats import load_stats
from ..model.checkpoint import LoadedModel, load_checkpoint, save_checkpoint
from ..model.config import ModelConfig, StyleEncoderConfig
from ..model.model import DiffPoseTalk, StyleEncoder
from . import distributed
from .augment import StyleEdits, StyleEditRates
from .denoiser import DenoiserObjective, StyleReferences, denoiser_step, loss_head
from .loop import EpochBatches, LoopConfig, setup_logging, train
from .losses import DenoiserLoss, LossWeights
from .style import CROP, StyleObjective, speaker_batches, style_step

log = logging.getLogger(__name__)

STYLE_WEIGHTS = "style_encoder.safetensors"
STYLE_CONFIG = "style_encoder.json"
CHECKPOINT_DIR = "checkpoint"


@dataclass
class StageResult:
    losses: dict  # the last logged averages
    module: torch.nn.Module  # the trained network (this process's copy)


class StageError(RuntimeError):
    """A stage's inputs do not fit together (say which option to change)."""


def save_style_encoder(folder: Path, encoder: StyleEncoder, stats_path: Path):
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
    save_file(state, str(folder / STYLE_WEIGHTS))
    (folder / STYLE_CONFIG).write_text(json.dumps({"config": asdict(encoder.cfg), "stats": str(stats_path)}, indent=1))


def load_style_encoder(path) -> StyleEncoder:
    """A style encoder from a style run folder, its .safetensors file, or our checkpoint."""
    from safetensors.torch import load_file

    from ..model.checkpoint import load_strict

    path = Path(path)
    if path.is_dir() and (path / "config.json").exists():
        return load_checkpoint(path).style_encoder
    folder = path if path.is_dir() else path.parent
    if not (folder / STYLE_CONFIG).exists():
        raise StageError(f"{folder} holds no {STYLE_CONFIG}; pass the folder of a finished train-style run "
                         "or a model checkpoint folder")
    cfg = StyleEncoderConfig(**json.loads((folder / STYLE_CONFIG).read_text())["config"])
    encoder = StyleEncoder(cfg)
    load_strict(encoder, load_file(str(folder / STYLE_WEIGHTS)), str(folder / STYLE_WEIGHTS))
    return encoder


@contextmanager
def _session(out: Path, device: str):
    """Join the process group and log to the run folder for the time of a stage."""
    info = distributed.setup(device)
    handler = setup_logging(out, info)
    try:
        yield info
    finally:
        if handler is not None:
            logging.getLogger("backend").removeHandler(handler)
            handler.close()
        distributed.cleanup(info)


def train_style_encoder(corpus, out, cfg: StyleEncoderConfig, loop: LoopConfig, device: str = "auto",
                        temperature: float = 0.1, cross_clip: bool = True, amplitude_twins: bool = True) -> StageResult:
    """Stage 1 on the corpus's train split; ``cross_clip``: positives from two clips of a speaker
    (False: two crops of one clip, as the reference trains); ``amplitude_twins``: see
    ``style.StyleObjective`` (False, as the reference trains)."""
    out = Path(out)
    with _session(out, device) as info:
        torch.manual_seed(loop.seed)
        dataset = MotionWindows(corpus, "train", window=CROP, n_windows=1, seed=loop.seed)
        encoder = StyleEncoder(cfg).to(info.device)
        objective = StyleObjective(encoder, head_pose=cfg.motion_dim == 54, temperature=temperature,
                                   cross_clip=cross_clip, amplitude_twins=amplitude_twins)
        batches = EpochBatches(dataset, speaker_batches(dataset, loop.batch_size, cross_clip=cross_clip), info,
                               loop.seed, loop.num_workers)
        log.info("style encoder: %d clips of %d speakers, %d parameters", len(dataset),
                 len({r.speaker for r in dataset.records}), sum(p.numel() for p in encoder.parameters()))
        stats_path = Path(corpus) / "stats.npz"
        last = train("style", distributed.wrap(objective, info), objective, style_step, batches, loop, info, out,
                     on_checkpoint=lambda step: save_style_encoder(out, encoder, stats_path),
                     run_config={"style_encoder": asdict(cfg), "corpus": str(corpus)})
        return StageResult(last, encoder)


# What a model with the style statistics has and a model without them lacks.
STATISTICS_ONLY = ("denoising_net.statistics_film.",)


def start_from_checkpoint(model: DiffPoseTalk, trained: DiffPoseTalk) -> None:
    """Copy ``trained``'s weights into ``model``. Where ``model`` has the style statistics
    and ``trained`` not, the new inputs of the person projection, the new values of the null
    style and the statistics' FiLM start at zero: the network then computes exactly what it
    did and learns to read the statistics."""
    state = trained.state_dict()
    own = model.state_dict()
    for key in set(own) - set(state):
        if key.startswith(STATISTICS_ONLY):
            state[key] = own[key]
    if set(state) != set(own):
        raise StageError(f"cannot start from that checkpoint: it holds {len(state)} tensors, the model "
                         f"{len(own)} (another number of layers or audio encoder?); use the same architecture")
    for key, value in own.items():
        old = state[key]
        if old.shape == value.shape:
            continue
        if key not in ("denoising_net.person_proj.weight", "null_style_feat") or old.shape[:-1] != value.shape[:-1]:
            raise StageError(f"cannot start from that checkpoint: {key} is {tuple(old.shape)}, the model needs "
                             f"{tuple(value.shape)}; use the same architecture")
        widened = torch.zeros_like(value)
        widened[..., : old.shape[-1]] = old
        state[key] = widened
    model.load_state_dict(state, strict=True)


def _batches_for_denoiser(dataset, batch_size: int, info):
    """DistributedSampler order (one shard per process), cut into whole batches."""
    sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank,
                                                  shuffle=True, seed=0, drop_last=True)

    def make_batches(epoch: int, rng) -> list:
        sampler.set_epoch(epoch)
        order = list(sampler)
        return [order[i: i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]

    return make_batches


def _load_pretrained_audio(model: DiffPoseTalk, folder):
    from ..model.audio import load_local_weights

    encoder = model.audio_encoder
    if model.cfg.audio_encoder.kind not in ("hubert", "wav2vec2"):
        raise StageError("--pretrained-audio needs a hubert or wav2vec2 audio encoder (--audio hubert)")
    load_local_weights(encoder, folder)
    for part in (encoder.feature_extractor, encoder.feature_projection, *encoder.encoder.layers[:2]):
        part.requires_grad_(False)


def _head_for_loss(expression_space: str, flame, n_vertices: int, lips: bool):
    from ..heads import load_head

    if expression_space == "arkit":
        head = load_head("builtin")
    elif flame is not None:
        head = load_head(flame)
    else:
        raise StageError("a 'flame' corpus needs --flame PATH (generic_model.pkl or flame2023_Open.pkl) for the "
                         "vertex losses, or --no-vertex-loss")
    return loss_head(head, n_vertices, lips=lips).torch_module()


def train_denoiser(corpus, out, config: ModelConfig, style_encoder, loop: LoopConfig, device: str = "auto",
                   name: str = "model", flame=None, vertex_loss: bool = True, loss_vertices: int = 0,
                   loss_lips: bool = False, weights: LossWeights | None = None, truncation: bool = True, presets: dict | None = None,
                   sampling: dict | None = None, pretrained_audio=None, style_from_other_clips: bool = True,
                   style_edits: StyleEditRates | None = None, style_statistics: bool = False,
                   start_from=None) -> StageResult:
    """Stage 2: train ``config``'s denoiser with the frozen ``style_encoder``.

    style_encoder: a ``StyleEncoder`` or a path for ``load_style_encoder``; its config
    replaces ``config.style_encoder``. Writes ``out/checkpoint`` (our format).
    pretrained_audio: a local HuBERT / wav2vec2 weights folder; its CNN, feature projection
    and first two transformer layers stay frozen, as in the reference.
    style_from_other_clips: encode each window's style from another clip of the same
    speaker (``StyleReferences``); False: from the sample's other window, as the reference.
    style_edits: edit some samples' head amplitude, jaw range and ARKit offsets, target and
    reference alike (``augment.StyleEdits``), so that the model follows a reference beyond
    the corpus's range; None: no edits, as the reference trains.
    style_statistics: the style vector also holds the reference's channel statistics
    (``model.motion_statistics``); the style encoder's own weights are unchanged by it.
    start_from: a checkpoint folder to start from instead of random weights (fine-tuning);
    its normalization stats are kept (see ``start_from_checkpoint``).
    """
    out = Path(out)
    with _session(out, device) as info:
        torch.manual_seed(loop.seed)
        encoder = style_encoder if isinstance(style_encoder, StyleEncoder) else load_style_encoder(style_encoder)
        if style_statistics:
            encoder.cfg = replace(encoder.cfg, statistics=True)
        config = ModelConfig(replace(config.denoiser, style_dim=encoder.cfg.style_dim,
                                     statistics_dim=encoder.cfg.style_dim - encoder.cfg.width), encoder.cfg,
                             config.audio_encoder)
        start = load_checkpoint(start_from) if start_from is not None else None
        stats = start.stats if start is not None else load_stats(corpus)
        frames = config.audio_encoder.kind == "frames"
        dataset = MotionWindows(corpus, "train", stats=stats, window=config.denoiser.n_motions, n_windows=2,
                                phone_features=frames, seed=loop.seed)
        if style_from_other_clips:
            dataset = StyleReferences(dataset)
        if frames:
            from ..speech.features import FEATURE_DIM

            if FEATURE_DIM != config.audio_encoder.feature_dim:
                raise StageError(f"the config's audio encoder takes {config.audio_encoder.feature_dim} features per "
                                 f"frame but backend.speech makes {FEATURE_DIM}; set feature_dim to {FEATURE_DIM}")
        head = _head_for_loss(dataset.expression_space, flame, loss_vertices, loss_lips) if vertex_loss else None
        model = DiffPoseTalk(config)
        if start is not None:
            start_from_checkpoint(model, start.model)
        if pretrained_audio is not None:
            _load_pretrained_audio(model, pretrained_audio)
        loss = DenoiserLoss(stats, config.denoiser.head_pose, head, weights)
        edits = None if style_edits is None else StyleEdits(stats, config.denoiser.head_pose,
                                                             dataset.expression_space == "arkit", style_edits)
        objective = DenoiserObjective(model, encoder, loss, edits).to(info.device)
        log.info("denoiser: %d clips, %d trainable parameters, audio encoder %s, space %s", len(dataset),
                 sum(p.numel() for p in model.parameters() if p.requires_grad), config.audio_encoder.kind,
                 dataset.expression_space)
        batches = EpochBatches(dataset, _batches_for_denoiser(dataset, loop.batch_size, info), info, loop.seed,
                               loop.num_workers)

        def export(step: int):
            loaded = LoadedModel(config, model, encoder, stats, name, dataset.expression_space, presets or {})
            if sampling:
                loaded.sampling.update(sampling)
            save_checkpoint(out / CHECKPOINT_DIR, loaded)
            log.info("step %d: checkpoint written to %s", step, out / CHECKPOINT_DIR)

        last = train("denoiser", distributed.wrap(objective, info), model,
                     lambda obj, batch, gen: denoiser_step(obj, batch, gen, truncation),
                     batches, loop, info, out, on_checkpoint=export,
                     run_config={"model": config.to_dict(), "corpus": str(corpus), "name": name})
        return StageResult(last, model)
