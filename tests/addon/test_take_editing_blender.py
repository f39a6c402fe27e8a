"""Editing a take in real bpy with the real backend: Regenerate Range writes a new take
whose keys outside the range are the old ones and inside are new, and loses nothing; a
take of a saved and reopened file is edited the same way."""
import numpy as np
import pytest

from addon_fixtures import blender_addon, extension_zip, tiny_arkit_checkpoint  # noqa: F401
from backend.model.adjustments import Adjustments, apply_adjustments

REGENERATE = """
scene.render.fps = 24
settings = use_audio_file(2.0, frame_start=11, steps=ARGS["steps"])
settings.head_motion_scale = 0.5  # the edit is adjusted as the take was
rig.select_set(True); bpy.context.view_layer.objects.active = rig
regenerate = generation.DIFFPOSETALK_OT_regenerate_range


def written():
    # (data path, index) -> keys of every curve on the rig's Actions of ours
    curves = {}
    for idblock in [rig] + [o.data.shape_keys for o in bpy.data.objects if o.type == "MESH" and o.data.shape_keys]:
        for fc in fcurves(idblock):
            curves[(fc.data_path, fc.array_index)] = keys(fc)
    return curves


out = {"no_take": regenerate.disabled_reason(bpy.context)}
assert generate() is None
drain(timeout=900)
before, actions_before = written(), sorted(a.name for a in bpy.data.actions)
out["take"] = [settings.take_frame_start, settings.take_frame_end]
settings.regenerate_frame_start, settings.regenerate_frame_end = 5, 20
out["outside"] = regenerate.disabled_reason(bpy.context)
settings.regenerate_frame_start, settings.regenerate_frame_end = 25, 40
out["ready"] = regenerate.disabled_reason(bpy.context)
bpy.ops.diffposetalk.regenerate_range()
sent = service.SESSION.job.steps[-1][1]
out["sent"] = [sent["keep"]["regenerate"], sent["head_motion_scale"], sent["seed"], sent["n_variations"]]
drain(timeout=900)
out["message"] = wm.diffposetalk.message
after = written()
out["curves"] = [len(before), sorted(before) == sorted(after)]
inside, outside_same, inside_same = [], [], []
for path, old in before.items():
    new = after[path]
    frames = old[:, 0]
    keep = (frames < 25) | (frames > 40)
    out.setdefault("frames_same", []).append(bool((new[:, 0] == frames).all()))
    outside_same.append(bool((new[keep, 1] == old[keep, 1]).all()))
    inside.append(float(abs(new[~keep, 1] - old[~keep, 1]).max()))
out["outside_same"] = all(outside_same)
out["inside_changed"] = max(inside)
out["variations"] = [generation.TAKES.count, generation.TAKES.shown]
out["actions"] = [actions_before, sorted(a.name for a in bpy.data.actions),
                  sorted(a.name for a in bpy.data.actions if a.use_fake_user)]
bpy.ops.diffposetalk.show_variation(index=0)
out["back_to_first"] = all((written()[path] == old).all() for path, old in before.items())
result(out)
"""


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_regenerate_range_keeps_the_keys_outside_it(blender_addon, tiny_arkit_checkpoint):
    out = blender_addon(REGENERATE, backend="real", rig=True, checkpoint=tiny_arkit_checkpoint, steps=4)
    assert out["no_take"] == "There is no take in this file to edit: generate lip-sync first"
    assert out["take"] == [11, 58]  # 2 s at 24 fps from frame 11
    assert "not all in the take" in out["outside"] and out["ready"] is None
    assert out["sent"][0] == pytest.approx([14 / 24, 30 / 24]), "frames 25..40 are the take's seconds 14/24..30/24"
    assert out["sent"][1:] == [0.5, 1, 1], "the take's own adjustments, a new seed, one variation"
    assert out["message"].startswith("Regenerated frames 25-40 as variation 2"), out["message"]
    assert out["curves"][0] > 50 and out["curves"][1], "the same curves, one key per frame"
    assert all(out["frames_same"])
    assert out["outside_same"], "keys outside the range are the old ones, exactly"
    assert out["inside_changed"] > 1e-3, "keys inside the range are new"
    assert out["variations"] == [2, 1]
    before, after, kept = out["actions"]
    assert set(before) < set(after) and len(after) == len(before) * 2, "a new Action per curve owner"
    assert set(before) <= set(kept), "the take before is kept in the file"
    assert out["back_to_first"], "the first take is there to go back to"


EDITABLE_KEYS = """
scene.render.fps = 25
settings = use_audio_file(3.0, steps=ARGS["steps"])
settings.reduce_keys, settings.key_tolerance = True, ARGS["tolerance"]
rig.select_set(True); bpy.context.view_layer.objects.active = rig
assert generate() is None
drain(timeout=900)
out = {"message": wm.diffposetalk.message}


def check():
    wanted, frames = take_curves(rig)
    points = [p for fc, _ in wanted for p in fc.keyframe_points]
    return {"curves": len(wanted), "keys": len(points), "error": curve_error(wanted, frames),
            "interpolation": sorted({p.interpolation for p in points}),
            "handles": sorted({p.handle_left_type for p in points} | {p.handle_right_type for p in points})}


out["reduced"] = check()
settings.reduce_keys = False
bpy.ops.diffposetalk.rewrite_keys()
out["rewritten"] = [wm.diffposetalk.message, check()]
out["frames"] = len(take_curves(rig)[1])
result(out)
"""


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_editable_keys_stay_within_the_tolerance_and_the_full_take_comes_back(blender_addon, tiny_arkit_checkpoint):
    tolerance = 0.02
    out = blender_addon(EDITABLE_KEYS, backend="real", rig=True, checkpoint=tiny_arkit_checkpoint, steps=4,
                        tolerance=tolerance)
    reduced, (message, full) = out["reduced"], out["rewritten"]
    assert "% of one per frame, off by at most" in out["message"], out["message"]
    assert reduced["interpolation"] == ["BEZIER"] and reduced["handles"] == ["ALIGNED"]
    assert reduced["error"] <= tolerance + 1e-5, "Blender's own evaluation of the curves is within the tolerance"
    assert reduced["keys"] < reduced["curves"] * out["frames"]
    assert message.startswith("Rewrote the keys of variation 1")
    assert full["keys"] == full["curves"] * out["frames"] and full["interpolation"] == ["LINEAR"]
    assert full["error"] < 1e-5, "the full-rate take is still there"


REOPEN = """
scene.render.fps = 24
settings = use_audio_file(2.0, frame_start=11, steps=ARGS["steps"])
settings.head_motion_scale, settings.n_variations = 0.5, 2
rig.select_set(True); bpy.context.view_layer.objects.active = rig
rig_name = rig.name


def motions():
    return [{key: np.asarray(m[key]).tolist() for key in ("exp", "pose", "raw_exp", "raw_pose", "shape")}
            | {"settings": m["settings"], "fps": m["fps"]} for m in generation.TAKES.motions]


def take_state():
    t = generation.TAKES
    return [t.scene, t.rig, t.frame_start, t.fps, t.action_name, t.shown, t.edits, t.take_id, t.request["seed"]]


def written():
    curves = {}
    for idblock in [rig] + [o.data.shape_keys for o in bpy.data.objects if o.type == "MESH" and o.data.shape_keys]:
        for fc in fcurves(idblock):
            curves[(idblock.name, fc.data_path, fc.array_index)] = keys(fc)
    return curves


assert generate() is None
drain(timeout=900)
bpy.ops.diffposetalk.show_variation(index=1)
bpy.ops.ed.undo()
undone = generation.TAKES.shown
bpy.ops.ed.redo()
scene, rig = bpy.context.scene, bpy.data.objects[rig_name]   # undo reloads datablocks
out = {"undo_redo": [undone, generation.TAKES.shown], "before": [motions(), take_state()], "packed_bytes": len(scene[generation.PACKED_TAKE_PROP])}
keys_before = {"|".join(map(str, k)): v.tolist() for k, v in written().items()}
path = str(TMP / "take.blend")
bpy.ops.wm.save_as_mainfile(filepath=path)
bpy.ops.wm.read_homefile(use_empty=True)   # another file: no take
out["other_file"] = [generation.TAKES.count,
                     generation.DIFFPOSETALK_OT_apply_adjustments.disabled_reason(bpy.context)]
started = time.perf_counter()
bpy.ops.wm.open_mainfile(filepath=path)
out["open_seconds"] = time.perf_counter() - started
scene, rig, wm = bpy.context.scene, bpy.data.objects[rig_name], bpy.context.window_manager
settings = scene.diffposetalk
out["after"] = [motions(), take_state()]
out["keys_same"] = {"|".join(map(str, k)): v.tolist() for k, v in written().items()} == keys_before
out["file_bytes"] = (TMP / "take.blend").stat().st_size

# Apply Adjustments on the reopened take: the jaw, with the take's own head motion.
settings.jaw_scale = 1.5
out["ready"] = generation.DIFFPOSETALK_OT_apply_adjustments.disabled_reason(bpy.context)
bpy.ops.diffposetalk.apply_adjustments()
drain(timeout=300)
out["adjusted_message"] = wm.diffposetalk.message
out["adjusted_keys_error"] = curve_error(*take_curves(rig))
adjusted = generation.TAKES.motion(generation.TAKES.shown)
out["adjusted"] = {key: np.asarray(adjusted[key]).tolist() for key in ("exp", "pose", "raw_exp", "raw_pose")}
out["adjusted_settings"] = {k: adjusted["settings"][k] for k in ("jaw_scale", "head_motion_scale")}

# Regenerate Range on it: frames 25-40 new, the rest kept key for key.
before = written()
settings.regenerate_frame_start, settings.regenerate_frame_end = 25, 40
out["regenerate_ready"] = generation.DIFFPOSETALK_OT_regenerate_range.disabled_reason(bpy.context)
bpy.ops.diffposetalk.regenerate_range()
sent = service.SESSION.job.steps[-1][1]
out["sent"] = [sent["keep"]["regenerate"], sent["jaw_scale"], sent["head_motion_scale"], sent["seed"]]
drain(timeout=900)
out["regenerated_message"] = wm.diffposetalk.message
after = written()
frames = {k: old[:, 0] for k, old in before.items()}
out["outside_same"] = all(((after[k][:, 1] == old[:, 1]) | ((frames[k] >= 25) & (frames[k] <= 40))).all()
                          for k, old in before.items())
out["inside_changed"] = max(float(abs(after[k][(frames[k] >= 25) & (frames[k] <= 40), 1]
                                      - old[(frames[k] >= 25) & (frames[k] <= 40), 1]).max()) for k, old in before.items())
out["regenerated_keys_error"] = curve_error(*take_curves(rig))
out["variations"] = [generation.TAKES.count, generation.TAKES.shown]
result(out)
"""


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_a_take_of_a_reopened_file_is_adjusted_and_regenerated(blender_addon, tiny_arkit_checkpoint):
    out = blender_addon(REOPEN, backend="real", rig=True, checkpoint=tiny_arkit_checkpoint, steps=4)
    (motions, state), (motions_after, state_after) = out["before"], out["after"]
    assert out["undo_redo"] == [0, 1], "undo and redo take the take along"
    assert state_after == state and state[5] == 1, "the same take, variation 2 shown"
    assert len(motions_after) == 2
    for old, new in zip(motions, motions_after):
        assert new == old, "every variation's arrays, settings and frame rate as they were"
    assert out["keys_same"]
    assert out["other_file"] == [0, "There is no take in this file to adjust: generate lip-sync first"]
    # 2 s at 24 fps, 2 variations whose head motion is adjusted: raw and adjusted float32
    # arrays and the shape stored, a header beside them.
    assert out["packed_bytes"] < 2 * (48 * 2 * (50 + 6) + 100) * 4 + 4096, out["packed_bytes"]
    assert out["ready"] is None and out["adjusted_message"].startswith("Adjusted variation 2"), out["adjusted_message"]
    assert out["adjusted_keys_error"] < 1e-5, "the keys are the adjusted take's"
    take = {key: np.asarray(value, np.float32) for key, value in out["adjusted"].items()}
    np.testing.assert_array_equal(take["raw_exp"], np.asarray(motions[1]["raw_exp"], np.float32))
    expected = apply_adjustments({"exp": take["raw_exp"], "pose": take["raw_pose"], "fps": 24.0,
                                  "expression_space": "arkit"}, Adjustments(jaw=1.5, head=0.5))
    np.testing.assert_allclose(take["exp"], expected["exp"], atol=1e-6)
    np.testing.assert_allclose(take["pose"], expected["pose"], atol=1e-6)
    assert out["adjusted_settings"] == {"jaw_scale": 1.5, "head_motion_scale": 0.5}
    assert out["regenerate_ready"] is None
    assert out["sent"][0] == pytest.approx([14 / 24, 30 / 24]) and out["sent"][1:3] == [1.5, 0.5]
    assert out["sent"][3] == 1, "the seed after the take's own"
    assert out["regenerated_message"].startswith("Regenerated frames 25-40 as variation 3"), out["regenerated_message"]
    assert out["outside_same"] and out["inside_changed"] > 1e-3
    assert out["regenerated_keys_error"] < 1e-5
    assert out["variations"] == [3, 2]
