"""The animator's adjustments of a take, applied to the model's motion (numpy only).

Per-region intensities (mouth, jaw, brows, eyes, head), a lip-sync offset and smoothing,
resolved from a request's params in one place (``resolve_adjustments``, like
``sampling.resolve_sampling``) and applied by ``apply_adjustments`` to the raw motion of
a take: in the model's own channels (ARKit or FLAME expression, jaw and head rotation),
not on the keys afterwards, so that what keeps the lips shut keeps them shut.

- Jaw: the jaw rotation is scaled about the rest (zero), and with ARKit mouthClose with
  it: mouthClose is the part of the jaw's opening the lips cancel, so a closure (lips
  shut over a slightly open jaw) stays shut. The jaw bone's arc and the linear
  mouthClose shape do not cancel exactly on a head, so frames with the lips shut also
  keep their jaw (the scale fades in as the lips part, like the mouth's). The jaw's own
  ARKit shapes (jawForward, jawLeft, jawRight) scale with it. FLAME has no mouthClose:
  its jaw is scaled about the take's closed jaw (the mean of its most closed 5 % of
  frames), so frames with the jaw at that angle stay where they are.
- Mouth (ARKit): the lip shapes (mouth* but mouthClose, and cheekPuff) scale about the
  neutral (0), except on frames where the lips are shut, which keep their shapes: a
  closure fades in from ``CLOSED_APERTURE`` to ``OPEN_APERTURE`` of the lips' opening
  (``lip_aperture``: jaw opening not cancelled by mouthClose plus the lips' own pulls).
- Brows (ARKit): browDown, browInnerUp, browOuterUp scale about the neutral.
- Eyes (ARKit): gaze, squint and wide scale about the neutral; blinks are left as they
  are (a blink scaled down reads as a drooping lid, not a calmer face).
- Head: the rotation about its mean (``motion_io.scale_head_motion``, the Head Motion
  control: the same thing).
- Lip-sync offset: the whole motion moves by whole frames of the take's rate, positive
  = later than the sound; the frames uncovered at one end hold the neighbouring frame,
  so the take keeps its length.
- Smoothing: a Gaussian (zero-phase: the same both ways in time) of up to
  ``SMOOTHING_SECONDS`` standard deviation; on closing frames the lips and jaw keep
  their unsmoothed values (weighted like the mouth's closures) and blinks are never
  smoothed, so neither is smeared away.

FLAME's expression coefficients are global (no coefficient is the mouth or the brows),
so with a FLAME model the mouth, brow and eye intensities are refused rather than guessed;
jaw, head, offset and smoothing work (smoothing keeps frames with the jaw at its closed
angle). The offset comes first, then smoothing, then the intensities, and everything is
computed from the raw motion: adjusting again starts from the model's motion, never from
an adjusted one.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import motion_io
from ..data.synthetic.visemes import CH, lip_aperture
from ..protocol import SMOOTHING_SECONDS

# The lips' opening (lip_aperture: fractions of a full jaw opening) up to which a frame
# counts as shut, and from which as open: on a 30 s take of real speech by the shipped
# model, every frame with the built-in head's lips within 2 mm is under 0.09.
CLOSED_APERTURE = 0.1
OPEN_APERTURE = 0.16
# FLAME: frames whose jaw is within this of the take's closed jaw count as shut (fading
# out at twice it).
FLAME_CLOSED_JAW_RADIANS = 0.02
FLAME_CLOSED_PERCENTILE = 5.0

MOUTH = [CH[name] for name in CH if name.startswith("mouth") and name != "mouthClose"] + [CH["cheekPuff"]]
JAW_SHAPES = [CH[name] for name in ("jawForward", "jawLeft", "jawRight")]
BROWS = [CH[name] for name in CH if name.startswith("brow")]
BLINKS = [CH["eyeBlinkLeft"], CH["eyeBlinkRight"]]
EYES = [CH[name] for name in CH if name.startswith("eye") and CH[name] not in BLINKS]
CLOSURE_CHANNELS = MOUTH + JAW_SHAPES + [CH["mouthClose"]]
# The protocol's parameter for each field of Adjustments.
PARAMS = {"mouth": "mouth_scale", "jaw": "jaw_scale", "brows": "brow_scale", "eyes": "eye_scale",
          "head": "head_motion_scale", "lip_sync_offset": "lip_sync_offset", "smoothing": "smoothing"}
ARKIT_ONLY = ("mouth", "brows", "eyes")


class AdjustmentError(ValueError):
    """An adjustment the take's expression space cannot apply; ``param`` names it."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param


@dataclass(frozen=True)
class Adjustments:
    mouth: float = 1.0
    jaw: float = 1.0
    brows: float = 1.0
    eyes: float = 1.0
    head: float = 1.0
    lip_sync_offset: int = 0
    smoothing: float = 0.0

    @property
    def neutral(self) -> bool:
        return self == Adjustments()

    def as_params(self) -> dict:
        """The protocol's names and values (what a take's settings record)."""
        return {PARAMS[name]: value for name, value in asdict(self).items()}


def resolve_adjustments(params: dict, expression_space: str) -> Adjustments:
    """The adjustments of validated request params (``protocol.ADJUSTMENTS``); raises
    AdjustmentError for a region the expression space has no channels for."""
    adjustments = Adjustments(**{name: params[param] for name, param in PARAMS.items()})
    if expression_space != "arkit":
        for name in ARKIT_ONLY:
            if getattr(adjustments, name) != 1.0:
                raise AdjustmentError(PARAMS[name], f"a {expression_space.upper()} model has no {name} channels (its "
                                      "expression coefficients each move the whole face), so only the jaw, head, "
                                      "lip-sync offset and smoothing can be adjusted; set it to 1")
    return adjustments


@dataclass(frozen=True)
class Reference:
    """What the take-wide adjustments are about: the head's mean rotation (unit
    quaternion) and the closed jaw (FLAME's jaw scale and closures)."""

    head_mean: np.ndarray
    closed_jaw: np.ndarray


def reference_of(motion: dict) -> Reference:
    """The reference of a raw motion: its own mean head and its most closed jaw."""
    pose = np.asarray(motion["pose"], np.float64)
    angle = np.linalg.norm(pose[:, 3:], axis=1)
    closed = pose[angle <= np.percentile(angle, FLAME_CLOSED_PERCENTILE), 3:].mean(axis=0)
    return Reference(motion_io.head_about_mean(pose)[0], closed)


def apply_adjustments(motion: dict, adjustments: Adjustments, reference: Reference | None = None) -> dict:
    """``motion`` (raw, at its own fps) with ``adjustments`` applied; neutral ones return
    its values unchanged. ``reference`` (default: the motion's own) is what the head and
    FLAME's jaw scale about: an edit of a take passes the take's, so that its kept frames
    come out as they were."""
    exp = np.array(motion["exp"], np.float64)
    pose = np.array(motion["pose"], np.float64)
    if adjustments.neutral or len(exp) == 0:
        return {**motion, "exp": exp.astype(np.float32), "pose": pose.astype(np.float32)}
    reference = reference or reference_of(motion)
    arkit = motion["expression_space"] == "arkit"
    exp, pose = shifted(exp, adjustments.lip_sync_offset), shifted(pose, adjustments.lip_sync_offset)
    shut = closed_weight(exp, pose, arkit, reference)
    mean = reference.head_mean
    head = motion_io.head_about_mean(pose, mean)[1]
    if adjustments.smoothing > 0:
        sigma = adjustments.smoothing * SMOOTHING_SECONDS * float(motion["fps"])
        keep = shut[:, None]
        smooth_exp = gaussian_smooth(exp, sigma)
        lips = CLOSURE_CHANNELS if arkit else slice(None)
        smooth_exp[:, lips] = keep * exp[:, lips] + (1 - keep) * smooth_exp[:, lips]
        if arkit:
            smooth_exp[:, BLINKS] = exp[:, BLINKS]
        exp = smooth_exp
        pose[:, 3:] = keep * pose[:, 3:] + (1 - keep) * gaussian_smooth(pose[:, 3:], sigma)
        head = gaussian_smooth(head, sigma)
    if adjustments.jaw != 1.0:
        if arkit:
            jaw = (1.0 + (adjustments.jaw - 1.0) * (1.0 - shut))[:, None]
            pose[:, 3:] *= jaw
            exp[:, JAW_SHAPES + [CH["mouthClose"]]] *= jaw
        else:
            closed = reference.closed_jaw
            pose[:, 3:] = closed + adjustments.jaw * (pose[:, 3:] - closed)
    if arkit:
        exp[:, MOUTH] *= (1.0 + (adjustments.mouth - 1.0) * (1.0 - shut))[:, None]
        exp[:, BROWS] *= adjustments.brows
        exp[:, EYES] *= adjustments.eyes
    pose[:, :3] = motion_io.head_from_mean(mean, head * adjustments.head)
    return {**motion, "exp": exp.astype(np.float32), "pose": pose.astype(np.float32)}


def shifted(values: np.ndarray, frames: int) -> np.ndarray:
    """``values`` (T, C) later by ``frames`` (earlier when negative), the uncovered end
    holding its neighbouring frame."""
    if frames == 0:
        return values
    index = np.clip(np.arange(len(values)) - frames, 0, len(values) - 1)
    return values[index]


def gaussian_smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """(T, C) smoothed along time with a Gaussian of ``sigma`` frames, the ends extended
    with their own values; symmetric, so nothing moves in time."""
    if sigma <= 0 or len(values) < 2:
        return np.array(values, np.float64)
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(np.asarray(values, np.float64), ((radius, radius), (0, 0)), mode="edge")
    out = np.zeros((len(values), padded.shape[1]))
    for k, tap in enumerate(taps):
        out += tap * padded[k:k + len(values)]
    return out


def closed_weight(exp: np.ndarray, pose: np.ndarray, arkit: bool, reference: Reference) -> np.ndarray:
    """(T,) 1 where the lips are shut, 0 where they are open, a ramp between."""
    if arkit:
        jaw = np.linalg.norm(pose[:, 3:], axis=1) * np.sign(pose[:, 3])  # about +X: positive opens
        opening = lip_aperture(exp, jaw)
        return np.clip((OPEN_APERTURE - opening) / (OPEN_APERTURE - CLOSED_APERTURE), 0.0, 1.0)
    beyond = np.linalg.norm(pose[:, 3:] - reference.closed_jaw, axis=1)
    return np.clip(2.0 - beyond / FLAME_CLOSED_JAW_RADIANS, 0.0, 1.0)
