"""The take's variations and the range of it to regenerate (bpy-free core)."""
import numpy as np
import pytest

from diffposetalk.addon.core.takes import Takes


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
