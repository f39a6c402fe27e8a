"""The take's variations, the range of it to regenerate, and the take packed into bytes
for the .blend (bpy-free core)."""
import io
import json

import numpy as np
import pytest

from diffposetalk.addon.core.takes import PackedTakeError, Takes


def take(frames=48, frame_start=11, fps=24.0):
    takes = Takes()
    motion = {"exp": np.zeros((frames, 50)), "pose": np.zeros((frames, 6))}
    takes.replace([motion], scene="Scene", rig="head", frame_start=frame_start, fps=fps, action_name="a",
                  request={"seed": 3})
    return takes


def test_scene_frames_become_seconds_of_the_take():
    takes = take()
    assert takes.range_seconds(25, 40) == pytest.approx([14 / 24, 30 / 24])
    assert takes.range_seconds(11, 11) == pytest.approx([0.0, 1 / 24])  # one frame
    assert takes.range_seconds(11, 58) == pytest.approx([0.0, 2.0])  # the whole take


@pytest.mark.parametrize("first, last, needle", [
    (20, 19, "The range is empty"),
    (10, 20, "not all in the take (frames 11-58)"),
    (50, 59, "not all in the take"),
])
def test_a_range_outside_the_take_says_what_to_change(first, last, needle):
    with pytest.raises(ValueError) as info:
        take().range_seconds(first, last)
    assert needle in str(info.value)


def test_a_regenerated_take_is_another_variation_and_a_new_take_starts_over():
    takes = take()
    assert takes.add({"exp": np.ones((48, 50)), "pose": np.zeros((48, 6))}) == 1
    assert takes.count == 2 and takes.edits == 1 and takes.shown == 0
    takes.replace([takes.motion(1)], scene="Scene", rig="head", frame_start=1, fps=25.0, action_name="b", request={})
    assert takes.count == 1 and takes.edits == 0


def test_a_packed_take_comes_back_whole():
    takes = take()
    rng = np.random.default_rng(0)
    adjusted = {"exp": rng.normal(size=(48, 50)).astype(np.float32), "pose": rng.normal(size=(48, 6)).astype(np.float32),
                "raw_exp": rng.normal(size=(48, 50)).astype(np.float32),
                "raw_pose": rng.normal(size=(48, 6)).astype(np.float32), "fps": 24.0, "expression_space": "arkit",
                "shape": np.zeros(100, np.float32), "settings": {"jaw_scale": 1.5, "seed": 3}}
    neutral = {**adjusted, "raw_exp": adjusted["exp"].copy(), "raw_pose": adjusted["pose"].copy(), "settings": {}}
    takes.motions = [adjusted, neutral]
    takes.add({"exp": adjusted["exp"], "pose": adjusted["pose"], "fps": 24.0, "expression_space": "arkit"})
    takes.shown = 2
    packed = takes.to_bytes()
    back = Takes.from_bytes(packed)
    assert (back.scene, back.rig, back.frame_start, back.fps, back.action_name, back.request, back.shown,
            back.edits, back.take_id) == (takes.scene, takes.rig, 11.0, 24.0, "a", {"seed": 3}, 2, 1, takes.take_id)
    for old, new in zip(takes.motions, back.motions):
        assert set(new) == set(old)
        for key, value in old.items():
            if isinstance(value, np.ndarray):
                assert new[key].dtype == np.float32 and np.array_equal(new[key], value), key
            else:
                assert new[key] == value, key
    # A variation whose raw motion is its motion stores it once.
    assert len(packed) < len(Takes(motions=[adjusted, adjusted, adjusted]).to_bytes())


@pytest.mark.parametrize("spoil, needle", [
    (lambda data: data[: len(data) // 2], "damaged"),
    (lambda data: b"not a take", "damaged"),
])
def test_damaged_packed_bytes_say_what_to_do(spoil, needle):
    with pytest.raises(PackedTakeError) as info:
        Takes.from_bytes(spoil(still_take().to_bytes()))
    assert needle in str(info.value) and "generate it again" in str(info.value)


def still_take():
    takes = take()
    takes.motions = [{"exp": np.zeros((4, 50), np.float32), "pose": np.zeros((4, 6), np.float32), "fps": 25.0,
                      "expression_space": "arkit"}]
    return takes


def test_a_take_of_another_layout_is_refused():
    packed = still_take().to_bytes()
    with np.load(io.BytesIO(packed)) as data:
        arrays = {key: data[key] for key in data.files}
    header = json.loads(str(arrays["take"]))
    arrays["take"] = np.str_(json.dumps({**header, "format": 99}))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with pytest.raises(PackedTakeError, match="layout 99, this add-on reads 1; update the add-on"):
        Takes.from_bytes(buffer.getvalue())


def worded(words, speech=True, **kwargs):
    takes = take(**kwargs)
    takes.motion(0)["settings"] = {"words": words, "speech": {"speech_model": "tiny.en"} if speech else None}
    return takes


def test_a_word_becomes_the_frames_whose_time_lies_in_it():
    takes = worded([{"word": "hello", "start": 0.5, "end": 0.9}, {"word": "a", "start": 1.0, "end": 1.01},
                    {"word": "end", "start": 1.8, "end": 2.0}])
    # 24 fps from frame 11: 0.5 s is take frame 12, 0.9 s lies inside frame 21 (0.875-0.917 s)
    assert takes.word_frames(0) == (11 + 12, 11 + 21)
    assert takes.word_frames(0, margin=2) == (11 + 10, 11 + 23)
    assert takes.word_frames(1) == (11 + 24, 11 + 24), "a word shorter than a frame still has one"
    assert takes.word_frames(2, margin=5) == (11 + 39, 11 + 47), "no further than the take's last frame"
    first, last = takes.word_frames(0)
    assert takes.range_seconds(first, last) == pytest.approx([0.5, 22 / 24]), "the range covers the word"
    with pytest.raises(ValueError, match="There is no word 4"):
        takes.word_frames(3)
    assert takes.words_missing() is None


def test_why_a_take_has_no_words():
    assert "reads no words" in worded([], speech=False).words_missing()
    assert "placed no words" in worded([]).words_missing()


def test_a_pose_is_kept_on_its_frame_and_the_blend_frames_beside_it_are_generated_again():
    takes = take(frames=30, frame_start=11)
    assert takes.frames_around(21, 3) == [k for k in range(30) if k <= 6 or k == 10 or k >= 14]
    assert takes.frames_around(12, 3) == [1] + list(range(5, 30)), "at the take's start"
    with pytest.raises(ValueError, match="Frame 41 is not a frame of the take"):
        takes.frames_around(41, 3)
    exp_read, pose_read = np.arange(50) < 10, np.arange(6) < 3
    posed = takes.posed_take(21, np.full(50, 0.7), np.full(6, 0.2), exp_read, pose_read)
    assert (posed["exp"][10, :10] == np.float32(0.7)).all() and (posed["exp"][10, 10:] == 0).all()
    assert (posed["pose"][10, :3] == np.float32(0.2)).all() and (posed["pose"][10, 3:] == 0).all()
    assert not posed["exp"][11].any() and "raw_exp" not in posed, "the take as shown counts as raw"
    assert not takes.motion(0)["exp"].any(), "the take itself is unchanged"
