"""The shipped default model: it loads, and it lip-syncs a held-out synthetic speaker."""
import json
import time
from pathlib import Path

import pytest

from backend.evaluation.lipsync import lipsync_report

DEFAULT = Path(__file__).resolve().parents[2] / "backend" / "models" / "default"

pytestmark = pytest.mark.skipif(not (DEFAULT / "config.json").exists(), reason="the default model is not built yet")


def test_default_model_is_small_and_has_presets():
    size = sum(p.stat().st_size for p in DEFAULT.iterdir())
    assert size <= 25 * 2**20
    meta = json.loads((DEFAULT / "config.json").read_text())
    assert meta["expression_space"] == "arkit"
    assert meta["config"]["audio_encoder"]["kind"] == "frames"
    assert {"neutral", "calm", "expressive", "smiling", "lively head"} <= set(meta["presets"])
    assert all(len(p["style"]) == 128 and p["description"] for p in meta["presets"].values())


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="the shipped default model (a short CPU run of train-default) is below the minimum: "
                   "18 of 27 closures (67 %) on this speaker, under the 85 % minimum (docs/evaluation.md); "
                   "strict, so this marker must go when a model meets the minimum")
def test_default_model_meets_the_lip_sync_minimum_on_a_held_out_speaker():
    from backend.data.synthetic.generate import CorpusConfig, make_clip
    from backend.evaluation.evaluate_cli import TruePhones, true_phone_bundle
    from backend.evaluation.report import closures_reached, eval_head, opening_mm
    from backend.heads import load_head
    from backend.model import load_model

    started = time.monotonic()
    bundle = load_model(DEFAULT)
    load_seconds = time.monotonic() - started  # reported, not asserted: timing is for benchmarks
    config = CorpusConfig(seed=7, n_clips=40, n_speakers=20)
    index = next(i for i, s in enumerate(config.speakers()) if s.split == "test")
    clip, audio, meta = make_clip(config, index)
    # True phone times: the synthetic voices are robotic and the recognizer, trained on real
    # speech, hears them poorly; real recordings are evaluated in docs/evaluation.md.
    phones = TruePhones()
    phones.segments = clip.phones
    motion = true_phone_bundle(bundle, phones).generate(audio, style=bundle.presets["neutral"][0], seed=0)[0]
    ehead = eval_head(load_head("builtin"))
    opening = opening_mm(ehead, motion)
    report = lipsync_report(opening, clip.phones, audio)
    # The bilabial closures: the bilabials in which the ground-truth face closes its lips
    # (the synthetic faces do not close in every bilabial, e.g. in fast coarticulation).
    reached, closures = closures_reached(opening, opening_mm(ehead, {"exp": clip.exp, "pose": clip.pose}),
                                         clip.phones)
    print(f"load {load_seconds:.2f} s, closures {reached}/{closures}, {report}")
    assert closures >= 5
    assert reached / closures >= 0.85
    assert report.open_vowel_opening_mm >= 6.0  # clearly open (median over open vowels)
    assert report.open_vowels_open >= 0.7
    if report.rest_frames:
        assert report.rest_closed >= 0.8
