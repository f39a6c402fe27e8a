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
