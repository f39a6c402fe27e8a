"""The sampling settings of one generation, resolved in one place from the request and
the model's info: which sampler, how many steps (each sampler's own contract, see
``samplers.py``) and the guidance scales (the model's defaults where none are given).

Pure: it reads only ``ModelBundle.info()``, so the service checks a request with it before
any work and the bundle runs what it returns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .errors import SamplingError
from .samplers import SAMPLERS


@dataclass(frozen=True)
class Sampling:
    sampler: str
    steps: int
    audio_scale: float
    style_scale: float


def resolve_scales(info: dict, audio_scale: Optional[float] = None, style_scale: Optional[float] = None) -> tuple:
    """(audio, style) guidance scales: the given ones, else the model's defaults."""
    return (float(info["default_audio_scale"]) if audio_scale is None else float(audio_scale),
            float(info["default_style_scale"]) if style_scale is None else float(style_scale))


def resolve_sampling(info: dict, sampler: Optional[str] = None, steps: Optional[int] = None,
                     audio_scale: Optional[float] = None, style_scale: Optional[float] = None) -> Sampling:
    """What a generation runs with; raises SamplingError for a choice the model cannot use."""
    sampler = sampler or info["default_sampler"]
    if sampler not in info["samplers"]:
        raise SamplingError("sampler", f"{sampler!r} is not one of this model's samplers "
                            f"({', '.join(info['samplers'])})")
    steps = SAMPLERS[sampler].steps_for(steps, int(info["default_steps"]), int(info["max_steps"]))
    return Sampling(sampler, steps, *resolve_scales(info, audio_scale, style_scale))
