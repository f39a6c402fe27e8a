"""Apply Adjustments in real bpy with the real backend: the take's keys are written again
from its raw motion with the Adjust panel's values (checked key by key), the settings go
with the take, and nobody else's animation is touched."""
import numpy as np
import pytest

from addon_fixtures import blender_addon, extension_zip, tiny_arkit_checkpoint  # noqa: F401
from backend.model.adjustments import Adjustments, apply_adjustments

ADJUST = """
rigs = importlib.import_module(PKG + ".addon.rigs")
scene.render.fps = 25
settings = use_audio_file(2.0, steps=ARGS["steps"])
apply = generation.DIFFPOSETALK_OT_apply_adjustments
# An artist's animation: a prop, and a shape-key Action on the face (pushed to the NLA by Generate).
prop = bpy.data.objects.new("Prop", None)
scene.collection.objects.link(prop)
prop.keyframe_insert("location", frame=1)
prop.location = (1.0, 2.0, 3.0)
prop.keyframe_insert("location", frame=30)
spec, armature, meshes = rigs.rig_spec(rig)
face = meshes[0].data.shape_keys
face.key_blocks[1].value = 0.3
face.key_blocks[1].keyframe_insert("value", frame=5)
artist = face.animation_data.action.name
rig.select_set(True); bpy.context.view_layer.objects.active = rig


def written():
    curves = {}
    for idblock in [armature] + [mesh.data.shape_keys for mesh in meshes]:
        for fc in fcurves(idblock):
            curves[(idblock.name, fc.data_path, fc.array_index)] = keys(fc)
    return curves


def artists():
    return {"prop": [keys(fc).tolist() for fc in fcurves(prop)],
            "face": [keys(fc).tolist() for fc in bpy.data.actions[artist].fcurves]
            if not hasattr(bpy.data.actions[artist], "layers") else
            [keys(fc).tolist() for layer in bpy.data.actions[artist].layers for strip in layer.strips
             for bag in strip.channelbags for fc in bag.fcurves],
            "face_nla": [s.action.name for t in face.animation_data.nla_tracks for s in t.strips]}


out = {"no_take": apply.disabled_reason(bpy.context)}
assert generate() is None
drain(timeout=900)
artists_before, before = artists(), written()
out["unchanged_values"] = apply.disabled_reason(bpy.context)
settings.lip_sync_offset = 2
out["ready"] = apply.disabled_reason(bpy.context)
bpy.ops.diffposetalk.apply_adjustments()
drain(timeout=300)
out["offset_message"] = wm.diffposetalk.message
shifted = written()
out["same_curves"] = sorted(shifted) == sorted(before)
out["shift_error"] = max(float(abs(shifted[k][2:, 1] - before[k][:-2, 1]).max()) for k in before)
out["held_error"] = max(float(abs(shifted[k][:2, 1] - before[k][0, 1]).max()) for k in before)
out["frames_same"] = all((shifted[k][:, 0] == before[k][:, 0]).all() for k in before)
settings.jaw_scale, settings.head_motion_scale = 1.5, 0.5
bpy.ops.diffposetalk.apply_adjustments()
drain(timeout=300)
out["message"] = wm.diffposetalk.message
out["keys_error"] = curve_error(*take_curves(rig))
take = generation.TAKES.motion(generation.TAKES.shown)
out["take"] = {key: np.asarray(take[key]).tolist() for key in ("exp", "pose", "raw_exp", "raw_pose")}
out["fps"] = take["fps"]
out["settings"] = {name: take["settings"][name] for name in ("jaw_scale", "head_motion_scale", "lip_sync_offset")}
ours = {a.name: a.get(generation.ADJUSTMENTS_PROP) for a in bpy.data.actions
        if a.get(generation.ADJUSTMENTS_PROP) is not None}
out["recorded"] = [dict(value) for value in ours.values()]
out["artists"] = [artists_before, artists()]
out["artist_is_not_ours"] = artist not in ours
out["variations"] = generation.TAKES.count
result(out)
"""


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_apply_adjustments_rewrites_the_takes_keys_and_nothing_else(blender_addon, tiny_arkit_checkpoint):
    out = blender_addon(ADJUST, backend="real", rig=True, checkpoint=tiny_arkit_checkpoint, steps=4)
    assert out["no_take"] == "There is no take in this file to adjust: generate lip-sync first"
    assert "has these adjustments already" in out["unchanged_values"] and out["ready"] is None
    assert out["offset_message"].startswith("Adjusted variation 1 (lip sync offset +2)"), out["offset_message"]
    assert out["same_curves"] and out["frames_same"]
    assert out["shift_error"] < 1e-6, "every key is the one two frames before"
    assert out["held_error"] < 1e-6, "the first frames hold the take's first frame"
    assert "jaw 1.50" in out["message"] and "head motion 0.50" in out["message"], out["message"]
    assert out["keys_error"] < 1e-5, "the keys are the adjusted take's"
    take = {key: np.asarray(value, np.float32) for key, value in out["take"].items()}
    expected = apply_adjustments({"exp": take["raw_exp"], "pose": take["raw_pose"], "fps": out["fps"],
                                  "expression_space": "arkit"}, Adjustments(jaw=1.5, head=0.5, lip_sync_offset=2))
    np.testing.assert_allclose(take["exp"], expected["exp"], atol=1e-6)
    np.testing.assert_allclose(take["pose"], expected["pose"], atol=1e-6)
    assert not np.allclose(take["pose"], take["raw_pose"])
    assert out["settings"] == {"jaw_scale": 1.5, "head_motion_scale": 0.5, "lip_sync_offset": 2}
    assert out["recorded"] and all(r["jaw_scale"] == 1.5 and r["lip_sync_offset"] == 2 for r in out["recorded"])
    before, after = out["artists"]
    assert before == after and before["face_nla"], "the artist's Actions are as they were, still on the NLA"
    assert out["artist_is_not_ours"] and out["variations"] == 1
