"""Training samples from a corpus (docs/dataset.md), the way DiffPoseTalk draws them.

A sample is ``n_windows`` consecutive windows of ``window`` frames (default 2 x 100 =
8 s) cut from one clip at a random start (or at frame 0 when ``random_crop`` is off), with
its audio, normalized with the corpus stats. The denoiser uses window 0 with the learned
start features and window 1 with the last 10 ground-truth frames of window 0; the style
encoder can ask for ``window=210, n_windows=1`` and take frames 0-99 and 110-209.

Clips shorter than one sample are left out (``skipped`` lists them).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..timebase import FPS, SAMPLES_PER_FRAME
from .format import DatasetFormatError, load_audio, load_clip, read_manifest
from ..model.stats import load_stats, normalize
from .stats import WINDOW

logger = logging.getLogger(__name__)


class MotionWindows(torch.utils.data.Dataset):
    """Map-style dataset over one split of a corpus; one item per clip and epoch.

    Each item is a dict of tensors:
      ``audio``  float32 (n_windows * window * 640,)  16 kHz mono, aligned to the frames
      ``exp``    float32 (n_windows * window, 50)     normalized
      ``pose``   float32 (n_windows * window, 6)      normalized (head 3, jaw 3)
      ``shape``  float32 (100,)                        normalized (zeros before it for arkit)
      ``speaker`` int64 ()                             index into ``self.speakers``
      ``start``  int64 ()                              first frame of the crop in the clip
    and, with ``phone_features=True``, ``features`` float32 (frames, FEATURE_DIM) from
    ``backend.speech.features.features_from_segments`` on the crop's true phone segments
    (clips without phones raise). Crops come from ``seed`` in the main process and from
    the worker's torch seed in DataLoader workers, so workers do not repeat each other.
    """

    def __init__(self, root, split: str = "train", stats=None, window: int = WINDOW,
                 n_windows: int = 2, random_crop: bool = True, phone_features: bool = False,
                 seed: int | None = None):
        self.root = Path(root)
        # stats: a dict, a stats .npz path, or None for the corpus's own stats.npz
        self.stats = stats if isinstance(stats, dict) else load_stats(self.root if stats is None else stats)
        self.frames = window * n_windows
        self.random_crop = random_crop
        self.phone_features = phone_features
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._rng_worker = None
        records = read_manifest(self.root, split)
        self.records = [r for r in records if r.frames >= self.frames]
        self.skipped = [r.id for r in records if r.frames < self.frames]
        if self.skipped:
            logger.info("%d clips of split %s are shorter than %d frames and are left out",
                        len(self.skipped), split, self.frames)
        if not self.records:
            raise DatasetFormatError(
                f"{self.root}: split {split!r} has no clip of {self.frames} frames or more")
        spaces = {r.expression_space for r in self.records}
        if len(spaces) != 1:
            raise DatasetFormatError(
                f"split {split!r} mixes expression spaces {sorted(spaces)}; train one space at a time")
        self.expression_space = spaces.pop()
        self.speakers = sorted({r.speaker for r in read_manifest(self.root)})
        self._speaker_index = {s: i for i, s in enumerate(self.speakers)}

    def __len__(self):
        return len(self.records)

    def __getitem__(self, index):
        record = self.records[index]
        clip = load_clip(self.root / record.motion)
        self._reseed_in_worker()
        last_start = clip.frames - self.frames
        start = int(self.rng.integers(0, last_start + 1)) if self.random_crop else 0
        audio = load_audio(self.root / record.audio, start, self.frames)
        audio = np.pad(audio, (0, self.frames * SAMPLES_PER_FRAME - len(audio)))
        item = {
            "audio": torch.from_numpy(audio.astype(np.float32)),
            "exp": torch.from_numpy(normalize(clip.exp[start:start + self.frames], self.stats, "exp")),
            "pose": torch.from_numpy(normalize(clip.pose[start:start + self.frames], self.stats, "pose")),
            "shape": torch.from_numpy(normalize(
                clip.shape if clip.shape is not None else np.zeros_like(self.stats["shape_mean"]),
                self.stats, "shape")),
            "speaker": torch.tensor(self._speaker_index[record.speaker]),
            "start": torch.tensor(start),
        }
        if self.phone_features:
            item["features"] = torch.from_numpy(self._features(clip, record, audio, start))
        return {key: value.float() if value.is_floating_point() else value for key, value in item.items()}

    def _features(self, clip, record, audio, start):
        from ..speech.features import features_from_segments

        if clip.phones is None:
            raise DatasetFormatError(f"clip {record.id} has no phone segments; phone_features needs them")
        offset = start / FPS
        end = offset + self.frames / FPS
        segments = [(p, max(s, offset) - offset, min(e, end) - offset)
                    for p, s, e in clip.phones if e > offset and s < end]
        return np.asarray(features_from_segments(segments, audio, rng=self.rng), np.float32)

    def _reseed_in_worker(self):
        info = torch.utils.data.get_worker_info()
        if info is not None and self._rng_worker != info.id:
            self.rng = np.random.default_rng(info.seed % 2**32)
            self._rng_worker = info.id
