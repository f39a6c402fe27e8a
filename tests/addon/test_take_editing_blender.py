"""Editing a take in real bpy with the real backend: Regenerate Range writes a new take
whose keys outside the range are the old ones and inside are new, and loses nothing;
Range from Word sets the range to a word's frames; Keep Pose holds a hand-keyed pose and
joins the motion around it; a take of a saved and reopened file is edited the same way."""
import math

import numpy as np
import pytest

from addon_fixtures import DEFAULT_MODEL, blender_addon, extension_zip, tiny_arkit_checkpoint  # noqa: F401
from backend.model.adjustments import Adjustments, apply_adjustments
from helpers import frame_roughness
from recordings import REAL_SPEECH

WRITTEN = """
def written():
    # (data path, index) -> keys of every curve on the rig's Actions of ours
    curves = {}
    for idblock in [rig] + [o.data.shape_keys for o in bpy.data.objects if o.type == "MESH" and o.data.shape_keys]:
        for fc in fcurves(idblock):
            curves[(fc.data_path, fc.array_index)] = keys(fc)
    return curves
"""

# The built-in head speaking a real recording with the shipped model (whose speech front-end
# times the words), at 25 fps from frame 1.
RECORDED = WRITTEN + """
scene.render.fps = 25
settings = scene.diffposetalk
settings.audio_source, settings.audio_file, settings.file_frame_start = "FILE", ARGS["audio"], 1
settings.transcript = ARGS["transcript"]
for name, value in ARGS.get("adjustments", {}).items():
    setattr(settings, name, value)
rig.select_set(True); bpy.context.view_layer.objects.active = rig
assert generate() is None
drain(timeout=900)
takes = generation.TAKES
out = {"message": wm.diffposetalk.message, "words": takes.words(), "frame_start": takes.frame_start}
"""

REGENERATE = WRITTEN + """
scene.render.fps = 24
settings = use_audio_file(2.0, frame_start=11, steps=ARGS["steps"])
settings.head_motion_scale = 0.5  # the edit is adjusted as the take was
rig.select_set(True); bpy.context.view_layer.objects.active = rig
regenerate = generation.DIFFPOSETALK_OT_regenerate_range

out = {"no_take": regenerate.disabled_reason(bpy.context)}
assert generate() is None
drain(timeout=900)
out["no_words"] = [generation.TAKES.words_missing(),
                   generation.DIFFPOSETALK_OT_range_from_word.disabled_reason(bpy.context)]
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
    assert out["no_words"][0] == out["no_words"][1] and "reads no words" in out["no_words"][0], out["no_words"]


def recording(name="austen_0870"):
    return {"audio": str(REAL_SPEECH / f"{name}.flac"), "transcript": (REAL_SPEECH / f"{name}.txt").read_text().strip()}


def needs_default_model():
    if not (DEFAULT_MODEL / "config.json").is_file():
        pytest.skip(f"no default model shipped ({DEFAULT_MODEL} is missing)")


RANGE_FROM_WORD = RECORDED + """
panels = importlib.import_module(PKG + ".addon.panels")
out["panel"] = draw(panels.DIFFPOSETALK_PT_take)
before = written()
settings.regenerate_word, settings.word_margin = str(ARGS["word"]), 0
bpy.ops.diffposetalk.range_from_word()
out["range"] = [settings.regenerate_frame_start, settings.regenerate_frame_end, wm.diffposetalk.message]
bpy.ops.diffposetalk.regenerate_range()
drain(timeout=900)
out["regenerated"] = wm.diffposetalk.message
after = written()
changed = set()
for path, old in before.items():
    new = after[path]
    assert (new[:, 0] == old[:, 0]).all()
    changed.update(float(frame) for frame in old[new[:, 1] != old[:, 1], 0])
out["changed"] = sorted(changed)
out["curves"] = len(before)
settings.word_margin = 3
bpy.ops.diffposetalk.range_from_word()
out["with_margin"] = [settings.regenerate_frame_start, settings.regenerate_frame_end]
result(out)
"""


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_range_from_word_regenerates_exactly_that_word(blender_addon):
    needs_default_model()
    word = 6  # "leisure"
    out = blender_addon(RANGE_FROM_WORD, backend="real", rig=True, word=word, timeout=900, **recording())
    words = out["words"]
    assert [w["word"] for w in words][:8] == ["and", "mister", "john", "dashwood", "had", "then", "leisure", "to"]
    assert ["prop", "regenerate_word"] in out["panel"] and ["operator", "diffposetalk.range_from_word"] in out["panel"]
    start, end = words[word]["start"], words[word]["end"]
    first, last = 1 + math.ceil(start * 25 - 1e-6), math.ceil(end * 25 - 1e-6)  # frames whose time is in the word
    assert out["range"][:2] == [first, last], (words[word], out["range"])
    assert out["range"][2] == f"Range set to 'leisure': frames {first}-{last}"
    assert out["regenerated"].startswith(f"Regenerated frames {first}-{last} as variation 2"), out["regenerated"]
    changed = out["changed"]
    assert changed and first <= changed[0] and changed[-1] <= last, "only the word's frames changed"
    assert len(changed) == last - first + 1, "every frame of the word is new"
    assert out["with_margin"] == [first - 3, last + 3]


KEEP_POSE = RECORDED + """
from mathutils import Quaternion

rigs = importlib.import_module(PKG + ".addon.rigs")
keep_pose = generation.DIFFPOSETALK_OT_keep_pose
frame = ARGS["frame"]
scene.frame_set(400)
out["outside"] = keep_pose.disabled_reason(bpy.context)
scene.frame_set(frame)
spec = rigs.rig_spec(rig)[0]
face = next(o for o in bpy.data.objects if o.type == "MESH" and o.data.shape_keys
            and "mouthSmileLeft" in o.data.shape_keys.key_blocks)
blocks = face.data.shape_keys.key_blocks
for name, value in ARGS["hand"].items():  # the animator keys a pose by hand on the take's own curves
    blocks[name].value = value
    blocks[name].keyframe_insert("value", frame=frame)
head = rig.pose.bones[spec.head_bone]
head.rotation_quaternion = Quaternion((1.0, 0.0, 0.0), ARGS["nod"]) @ head.rotation_quaternion
head.keyframe_insert("rotation_quaternion", frame=frame)
out["hand_head"] = list(head.rotation_quaternion)
hand_keys = written()
out["ready"] = keep_pose.disabled_reason(bpy.context)

bpy.ops.diffposetalk.keep_pose()  # cancelled: nothing changes, the hand keys stay
service.SESSION.cancel()
drain(timeout=900)
out["cancelled"] = [wm.diffposetalk.message, all((written()[p] == k).all() for p, k in hand_keys.items()),
                    takes.count]

settings.pose_blend_frames = ARGS["blend"]
bpy.ops.diffposetalk.keep_pose()
sent = service.SESSION.job.steps[-1][1]["keep"]
index = frame - 1  # the take's frame 0 is scene frame 1
out["sent"] = [len(sent["frames"]), sent["blend"], index in sent["frames"], index - 1 in sent["frames"],
               index + 1 in sent["frames"]]
drain(timeout=900)
out["done"] = wm.diffposetalk.message
after = written()
out["at_pose"] = {name: float(after[(f'key_blocks["{name}"].value', 0)][frame - 1, 1]) for name in ARGS["hand"]}
out["head_at_pose"] = [float(after[(f'pose.bones["{spec.head_bone}"].rotation_quaternion', i)][frame - 1, 1])
                       for i in range(4)]
changed = set()
for path, old in hand_keys.items():
    changed.update(float(f) for f in old[after[path][:, 1] != old[:, 1], 0])
out["changed"] = sorted(changed)
out["motions"] = [{"exp": takes.motion(i)["exp"].tolist(), "pose": takes.motion(i)["pose"].tolist()} for i in (0, 1)]
out["variations"] = [takes.count, takes.shown]
out["adjustments"] = [generation.take_adjustments(takes.motion(i))["jaw_scale"] for i in (0, 1)]
out["old_action_kept"] = sorted(a.name for a in bpy.data.actions if a.use_fake_user)
result(out)
"""


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_keep_pose_holds_a_hand_keyed_pose_and_joins_it(blender_addon):
    needs_default_model()
    frame, blend = 60, 6
    hand = {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.8, "browInnerUp": 0.6}
    out = blender_addon(KEEP_POSE, backend="real", rig=True, frame=frame, blend=blend, hand=hand, nod=0.12,
                        adjustments={"jaw_scale": 1.2}, timeout=900, **recording())
    assert "is not a frame of the take" in out["outside"] and out["ready"] is None
    message, unchanged, count = out["cancelled"]
    assert message == "Lip-sync cancelled" and unchanged and count == 1, "a cancelled edit leaves every key"
    n = len(out["motions"][0]["exp"])
    assert out["sent"] == [n - 2 * blend, blend, True, False, False], "all but the blend frames beside the pose kept"
    assert out["done"].startswith(f"Kept the pose of frame {frame} (jaw 1.20 baked in) as variation 2"), out["done"]
    assert out["adjustments"] == [pytest.approx(1.2), 1.0], "the new variation has the take's adjustments in its motion"
    for name, value in hand.items():
        assert out["at_pose"][name] == pytest.approx(value, abs=1e-5), name
    assert np.abs(np.abs(np.dot(out["head_at_pose"], out["hand_head"])) - 1) < 1e-6, "the head as keyed"
    assert out["changed"] and frame - blend <= out["changed"][0] and out["changed"][-1] <= frame + blend
    assert out["variations"] == [2, 1] and out["old_action_kept"], "the take with the hand keys stays in the file"
    # The seam, measured as the inpainting benchmark does: acceleration per channel in units
    # of the take's own, against the take's frames; the face's channels here, the head below.
    old, new = (np.concatenate([np.asarray(m["exp"]), np.asarray(m["pose"])[:, 3:]], 1) for m in out["motions"])
    natural = frame_roughness(old, old)
    index = frame - 1
    around = frame_roughness(new, old)[index - blend - 2: index + blend + 1]  # entry i is frame i + 1
    print(f"keep pose seam: max {around.max():.3f} at the pose {frame_roughness(new, old)[index - 1]:.3f}; "
          f"take median {np.median(natural):.3f}, 90th percentile {np.percentile(natural, 90):.3f}, "
          f"99th {np.percentile(natural, 99):.3f}")
    assert around.max() <= np.percentile(natural, 99), "no frame near the pose rougher than the take's roughest"
    # The head is turned by the nod, far more than the take's slow head moves in a frame: it
    # eases into the pose and out over the blend frames, no faster than a half-cosine fade
    # of the nod over them needs.
    head_old, head_new = (np.asarray(m["pose"])[:, :3] for m in out["motions"])
    head_accel = np.linalg.norm(np.diff(head_new, 2, axis=0), axis=1)[index - blend - 2: index + blend + 1]
    fade = 0.12 * (math.pi / blend) ** 2 / 2
    own = np.percentile(np.linalg.norm(np.diff(head_old, 2, axis=0), axis=1), 99)
    print(f"keep pose head: max acceleration {head_accel.max():.4f} rad/frame^2, fade {fade:.4f}, take's 99th {own:.4f}")
    assert head_accel.max() <= 1.5 * fade + own


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
