"""Editing a take through the service's Runner: kept frames at any frame rate, and the
checks of ``keep`` (all before the audio is decoded, except the take's length)."""
from __future__ import annotations

import numpy as np
import pytest

from backend import motion_io, protocol
from backend.protocol import ErrorCode, Method, ProtocolError
from backend.model.adjustments import Adjustments, apply_adjustments, reference_of
from backend.service.runner import Runner


@pytest.fixture(scope="module")
def runner(checkpoint):
    runner = Runner("cpu", threads=1)
    runner.load(checkpoint)
    yield runner
    runner.close()


def generate(runner, audio, output, **params):
    return runner.generate(protocol.validate_params(Method.GENERATE, {"audio": str(audio), "output": str(output),
                                                                      **params}))


@pytest.fixture(scope="module")
def take(runner, audio, tmp_path_factory):
    path = tmp_path_factory.mktemp("takes") / "take.npz"
    generate(runner, audio["wav"], path, fps=30.0)
    return path


def test_kept_frames_of_a_take_are_its_own_values(runner, audio, take, tmp_path):
    before = motion_io.load_motion(take)
    out = tmp_path / "pinned.npz"
    result = generate(runner, audio["wav"], out, fps=30.0, seed=4, n_variations=2,
                      keep={"take": str(take), "frames": [0, 10, 11, 30]})
    for path in result["outputs"]:
        after = motion_io.load_motion(path)
        assert np.array_equal(after["exp"][[0, 10, 11, 30]], before["exp"][[0, 10, 11, 30]])
        assert not np.allclose(after["exp"][15:25], before["exp"][15:25])
    assert result["settings"]["keep"] == {"take": str(take), "frames": [0, 10, 11, 30]}


def test_a_kept_pose_the_model_would_not_make_is_faded_into_the_new_frames(runner, audio, take, tmp_path):
    """keep.blend: the frames around a lone kept frame come to it smoothly instead of jumping."""
    before = motion_io.load_motion(take)
    posed = {**before, "exp": before["exp"].copy(), "raw_exp": before["raw_exp"].copy()}
    posed["exp"][20, :5] += 1.0
    posed["raw_exp"][20, :5] += 1.0
    posed_file = motion_io.save_motion(tmp_path / "posed.npz", posed, before["settings"])
    frames = [k for k in range(len(before["exp"])) if k == 20 or abs(k - 20) > 6]
    outputs = {}
    for blend in (0, 6):
        out = tmp_path / f"blend{blend}.npz"
        generate(runner, audio["wav"], out, fps=30.0, seed=2, keep={"take": str(posed_file), "frames": frames,
                                                                     "blend": blend})
        outputs[blend] = motion_io.load_motion(out)["exp"]
    for exp in outputs.values():
        assert np.array_equal(exp[frames], posed["exp"][frames]), "every kept frame as it was, the pose too"
    jump = {blend: np.abs(exp[[19, 21], :5] - exp[20, :5]).max() for blend, exp in outputs.items()}
    assert jump[0] > 0.5, "without a blend the new frames keep to the model's own motion"
    assert jump[6] < 0.2 * jump[0], jump
    far = np.abs(outputs[6][[14, 26]] - outputs[0][[14, 26]]).max()
    assert far < 0.1, "the fade is all but gone by the blend's end"


def test_a_take_at_another_rate_is_kept_within_resampling(runner, audio, take, tmp_path):
    before = motion_io.resample_motion(motion_io.load_motion(take), 25.0)
    out = tmp_path / "at25.npz"
    generate(runner, audio["wav"], out, seed=4, keep={"take": str(take), "regenerate": [0.4, 0.8]})
    after = motion_io.load_motion(out)
    n = min(len(after["exp"]), len(before["exp"]))
    outside = np.ones(n, bool)
    outside[10:20] = False
    np.testing.assert_allclose(after["exp"][:n][outside], before["exp"][:n][outside], atol=1e-6)


@pytest.mark.parametrize("keep, code, needle", [
    ({"regenerate": [5.0, 6.0]}, ErrorCode.INVALID_PARAMS, "past the end of the take"),
    ({"regenerate": [0.52, 0.53]}, ErrorCode.INVALID_PARAMS, "holds no frame"),
    ({"frames": [400]}, ErrorCode.INVALID_PARAMS, "past the take's last frame"),
    ({"take": "missing.npz", "frames": [1]}, ErrorCode.FILE_NOT_FOUND, "does not exist"),
    ({"take": "arkit", "frames": [1]}, ErrorCode.WRONG_EXPRESSION_SPACE, "edit it with the model that made it"),
    ({"take": "not a take", "frames": [1]}, ErrorCode.INVALID_PARAMS, "not a readable .npz"),
])
def test_a_bad_take_or_range_is_refused_before_the_audio_is_read(runner, take, arkit_clip, audio, tmp_path, keep,
                                                                 code, needle):
    junk = tmp_path / "junk.npz"
    junk.write_text("not a take")
    names = {"arkit": str(arkit_clip), "not a take": str(junk), "missing.npz": str(tmp_path / "missing.npz")}
    keep = {**keep, "take": names.get(keep.get("take"), str(take))}
    with pytest.raises(ProtocolError) as info:
        generate(runner, audio["corrupt"], tmp_path / "out.npz", keep=keep)  # the audio is never opened
    assert info.value.code == code and needle in info.value.message


def test_a_take_of_other_audio_is_refused(runner, audio, take, tmp_path):
    with pytest.raises(ProtocolError) as info:
        generate(runner, audio["long"], tmp_path / "out.npz", keep={"take": str(take), "regenerate": [0.2, 0.6]})
    assert info.value.code == ErrorCode.INVALID_PARAMS and "the audio the take was made from" in info.value.message
    assert not (tmp_path / "out.npz").exists()


def test_an_edit_keeps_the_raw_take_and_applies_its_adjustments_to_the_whole(runner, audio, tmp_path):
    adjustments = {"jaw_scale": 1.4, "head_motion_scale": 0.5}
    take = tmp_path / "adjusted.npz"
    generate(runner, audio["wav"], take, fps=30.0, **adjustments)
    before = motion_io.load_motion(take)
    out = tmp_path / "edited.npz"
    generate(runner, audio["wav"], out, fps=30.0, seed=3, keep={"take": str(take), "frames": [0, 1, 2, 20]},
             **adjustments)
    after = motion_io.load_motion(out)
    kept = [0, 1, 2, 20]
    assert np.array_equal(after["raw_exp"][kept], before["raw_exp"][kept])
    assert np.array_equal(after["raw_pose"][kept, 3:], before["raw_pose"][kept, 3:])
    # Adjusted about the take's own head and closed jaw: the kept frames come out as the take's.
    np.testing.assert_allclose(after["pose"][kept], before["pose"][kept], atol=1e-6)
    whole = apply_adjustments(motion_io.raw_motion(after), Adjustments(jaw=1.4, head=0.5),
                              reference_of(motion_io.raw_motion(before)))
    np.testing.assert_allclose(after["pose"], whole["pose"], atol=1e-6)
    assert after["settings"]["jaw_scale"] == 1.4 and after["settings"]["keep"]["frames"] == kept
