"""Denoiser training with a frozen style encoder, the way DiffPoseTalk trains it.

A sample is W = 2 consecutive windows of L = 100 frames. Window 0 is conditioned on the
learned start features, window 1 on the ground-truth last P = 10 frames of window 0 and
their audio features; both windows are independent given those, so they run as one batch
of 2N. The style of window i is encoded from the other window, as the reference does, or
(``StyleReferences``) from a crop of another clip of the same speaker: a style reference
at generation time is another take, and a style learned from the same clip can lean on
what is particular to that clip instead of the speaker. Conditions are dropped for
classifier-free guidance and windows are truncated (``augment``); the network predicts x0
from x_t with t uniform in 1..T.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ..heads.regions import lip_region, subset_head
from ..model.audio import normalize_waveform
from ..model.model import DiffPoseTalk, StyleEncoder
from ..model.schedule import CosineSchedule
from ..timebase import SAMPLES_PER_FRAME
from .augment import StyleEdits, condition_dropout, truncation_mask
from .losses import DenoiserLoss


def motion_vector(exp: torch.Tensor, pose: torch.Tensor, head_pose: bool) -> torch.Tensor:
    """Normalized exp (..., 50) and pose (..., 6) -> model vector (..., 54 or 51).

    Torch twin of ``backend.model.stats.motion_to_vector`` for inputs already normalized.
    """
    parts = [exp, pose[..., :3], pose[..., 3:4]] if head_pose else [exp, pose[..., 3:4]]
    return torch.cat(parts, dim=-1)


def loss_head(head, n_vertices: int = 0, seed: int = 0, lips: bool = False):
    """``head`` reduced to its landmarks, ``n_vertices`` random skin vertices and, with
    ``lips``, its whole lip region (``n_vertices`` 0 = the whole head).

    The vertex losses are means over vertices, so a fixed random subset estimates them
    without bias; the built-in head has 25k vertices, too many per frame on a CPU. Adding
    the whole lip region weights the lips more than a uniform mean would.
    """
    if n_vertices <= 0 or n_vertices >= head.n_vertices:
        return head
    rng = np.random.default_rng(seed)
    candidates = head.skin_vertices()
    parts = [rng.choice(candidates, size=min(n_vertices, len(candidates)), replace=False),
             np.array(list(head.landmarks.values()), dtype=np.int64)]
    if lips and {"upper_lip_inner", "lower_lip_inner"} <= set(head.landmarks):
        parts.append(lip_region(head))
    return subset_head(head, np.unique(np.concatenate(parts)))


class StyleReferences(torch.utils.data.Dataset):
    """A ``MotionWindows`` whose items also carry ``style_exp`` / ``style_pose`` (normalized,
    n_windows * L frames): for each window, L frames at a random place in another clip of
    the same speaker (the clip itself for a speaker with one clip)."""

    def __init__(self, windows):
        self.windows = windows
        by_speaker: dict = {}
        for index, record in enumerate(windows.records):
            by_speaker.setdefault(record.speaker, []).append(index)
        self.others = [[j for j in by_speaker[r.speaker] if j != i] or [i] for i, r in enumerate(windows.records)]

    def __getattr__(self, name):  # records, speakers, expression_space, ... of the windows
        if name == "windows":
            raise AttributeError(name)
        return getattr(self.windows, name)

    def __setattr__(self, name, value):
        if name == "rng":  # reseeded by EpochBatches: the crops come from the windows' generator
            self.windows.rng = value
        else:
            super().__setattr__(name, value)

    def __len__(self):
        return len(self.windows)

    def __getitem__(self, index):
        from ..data.format import load_clip
        from ..model.stats import normalize

        item = self.windows[index]
        windows = self.windows
        length = windows.frames // 2 if windows.frames >= 2 * REFERENCE_FRAMES else windows.frames
        n_windows = windows.frames // length
        exp, pose = [], []
        for _ in range(n_windows):
            other = windows.records[int(windows.rng.choice(self.others[index]))]
            clip = load_clip(windows.root / other.motion)
            start = int(windows.rng.integers(0, clip.frames - length + 1))
            exp.append(normalize(clip.exp[start: start + length], windows.stats, "exp"))
            pose.append(normalize(clip.pose[start: start + length], windows.stats, "pose"))
        item["style_exp"] = torch.from_numpy(np.concatenate(exp).astype(np.float32))
        item["style_pose"] = torch.from_numpy(np.concatenate(pose).astype(np.float32))
        return item


REFERENCE_FRAMES = 100


class DenoiserObjective(nn.Module):
    """The training forward of a batch: conditions, noise, x0 prediction and losses.

    One module, so that DistributedDataParallel sees every trainable parameter used in
    one forward. The style encoder is frozen (no gradients, eval mode). ``edits``: a
    ``StyleEdits`` applied alike to target and style reference when the draws hold edits.
    """

    def __init__(self, model: DiffPoseTalk, style_encoder: StyleEncoder, loss: DenoiserLoss,
                 edits: StyleEdits | None = None):
        super().__init__()
        self.model = model
        self.style_encoder = style_encoder.eval().requires_grad_(False)
        self.loss = loss
        self.edits = edits
        self.schedule = CosineSchedule(model.cfg.denoiser.n_diff_steps)

    def train(self, mode: bool = True):
        super().train(mode)
        self.style_encoder.eval()
        return self

    def encoder_inputs(self, batch: dict, frame_mask: torch.Tensor) -> torch.Tensor:
        """The audio encoder's input for the whole sample, zero after each cut.

        frame_mask (N, W * L). Features (N, W*L, F) or normalized audio (N, W*L*640).
        """
        if self.model.audio_encoder.input_kind == "frames":
            return batch["features"] * frame_mask[..., None]
        audio = normalize_waveform(batch["audio"])
        return audio * frame_mask.repeat_interleave(SAMPLES_PER_FRAME, dim=1)

    def forward(self, batch: dict, draws: dict):
        """batch: ``exp`` (N, W*L, 50), ``pose`` (N, W*L, 6), ``shape`` (N, 100) normalized,
        ``features`` (N, W*L, F) or ``audio`` (N, W*L*640), optionally ``style_exp`` /
        ``style_pose`` (N, W*L, ...) from ``StyleReferences``. draws (see ``draw``): ``mask``
        (N, W, L), ``drop_style`` / ``drop_audio`` (N,), ``t`` (N*W,), ``noise`` (N*W, L, D),
        optionally ``edits`` (``StyleEdits.draw``): the same edit of target and reference.
        Returns (total loss, {term: value}) and, as ``pred``, x0 predictions (N, W, L, D)."""
        cfg = self.model.cfg.denoiser
        L, P = cfg.n_motions, cfg.n_prev_motions
        mask = draws["mask"]
        n, n_windows = mask.shape[:2]
        target = motion_vector(batch["exp"], batch["pose"], cfg.head_pose)
        edits = draws.get("edits") if self.edits is not None else None
        if edits is not None:
            target = self.edits(target, edits)
        target = target.view(n, n_windows, L, -1)
        x0 = target * mask[..., None]
        audio = self.model.audio_features(self.encoder_inputs(batch, mask.reshape(n, -1)), n_windows * L)
        audio = audio.view(n, n_windows, L, -1)

        with torch.no_grad():
            if "style_exp" in batch:  # crops of other clips of the same speaker, one per window
                reference = motion_vector(batch["style_exp"], batch["style_pose"], cfg.head_pose).view(n * n_windows, L, -1)
                if edits is not None:
                    reference = self.edits(reference, {k: v.repeat_interleave(n_windows, dim=0)
                                                       for k, v in edits.items()})
                style = self.style_encoder(reference).view(n, n_windows, -1)
            else:  # window i takes the style of another window
                styles = self.style_encoder(target.flatten(0, 1)).view(n, n_windows, -1)
                style = styles[:, [(w + 1) % n_windows for w in range(n_windows)]]
        # The conditions as the sampling pipeline builds them (the model's person, start
        # context and null audio), one row per window; a dropped condition is the null one.
        shape = batch["shape"].repeat_interleave(n_windows, dim=0)
        dropped_style = draws["drop_style"].repeat_interleave(n_windows)[:, None]
        person = torch.where(dropped_style, self.model.person(shape), self.model.person(shape, style.flatten(0, 1)))
        # Context: learned start features for window 0, ground truth of the window before.
        start_motion, start_audio = self.model.start_context(n)
        prev_motion = torch.cat([start_motion[:, None], target[:, :-1, -P:]], dim=1).flatten(0, 1)
        prev_audio = torch.cat([start_audio[:, None], audio[:, :-1, -P:]], dim=1).flatten(0, 1)
        # The dropped-audio branch keeps its context audio, as the sampling pipeline does.
        dropped_audio = draws["drop_audio"].repeat_interleave(n_windows)[:, None, None]
        audio = torch.where(dropped_audio, self.model.null_audio(n * n_windows, L), audio.flatten(0, 1))

        t = draws["t"]
        x_t = self.schedule.add_noise(x0.flatten(0, 1), draws["noise"], t)
        indicator = mask.flatten(0, 1) if cfg.use_indicator else None
        pred = self.model.denoising_net(
            x_t=x_t, audio_feat=audio, person=person, prev_motion=prev_motion, prev_audio=prev_audio, t=t,
            indicator=indicator,
        )[:, P:].view(n, n_windows, L, -1)
        shape_raw = self.loss.decoder.shape(batch["shape"]) if self.loss.uses_shape else None
        total, terms = self.loss(pred, target, mask, shape_raw)
        return total, terms, pred


def draw(n: int, n_windows: int, cfg, generator: torch.Generator, device, truncation: bool = True,
         edits: StyleEdits | None = None) -> dict:
    """The random choices of one step for N samples (see ``DenoiserObjective.forward``)."""
    drop_style, drop_audio = condition_dropout(n, generator)
    if truncation:
        mask = truncation_mask(n, n_windows, cfg.n_motions, generator)
    else:
        mask = torch.ones(n, n_windows, cfg.n_motions)
    t = torch.randint(1, cfg.n_diff_steps + 1, (n * n_windows,), generator=generator)
    noise = torch.randn(n * n_windows, cfg.n_motions, cfg.motion_dim, generator=generator)
    draws = {"drop_style": drop_style, "drop_audio": drop_audio, "mask": mask, "t": t, "noise": noise}
    draws = {k: v.to(device) for k, v in draws.items()}
    if edits is not None:
        draws["edits"] = {k: v.to(device) for k, v in edits.draw(n, generator).items()}
    return draws


def denoiser_step(objective: nn.Module, batch: dict, generator: torch.Generator, truncation: bool = True):
    """One step's loss: draw the random choices, run the (possibly DDP-wrapped) objective."""
    inner = getattr(objective, "module", objective)
    cfg = inner.model.cfg.denoiser
    n = batch["exp"].shape[0]
    n_windows = batch["exp"].shape[1] // cfg.n_motions
    total, terms, _ = objective(batch, draw(n, n_windows, cfg, generator, batch["exp"].device, truncation,
                                            inner.edits))
    return total, terms
