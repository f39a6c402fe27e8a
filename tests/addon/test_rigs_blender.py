"""Rigs in real bpy: takes as NLA strips (with the real backend), a bone rig driven
through pose Actions, and a linked character with library overrides whose shape keys are
spread over several meshes (with the stand-in backend)."""
import pytest

from addon_fixtures import blender_addon, extension_zip, tiny_arkit_checkpoint  # noqa: F401

NLA = """
rigs = importlib.import_module(PKG + ".addon.rigs")
scene.render.fps = 24
settings = use_audio_file(2.0, frame_start=11, steps=ARGS["steps"])
settings.n_variations = 2
settings.use_nla_strips = True
settings.nla_blend_in, settings.nla_blend_out = 4, 6
rig.select_set(True); bpy.context.view_layer.objects.active = rig
mesh = next(o for o in bpy.data.objects if o.type == "MESH" and o.data.shape_keys)
key = mesh.data.shape_keys
# Hand animation on the shape keys and the jaw: it must keep playing under the take.
key.key_blocks["mouthClose"].value = 0.8
key.key_blocks["mouthClose"].keyframe_insert("value", frame=1)
rig.pose.bones["jaw"].rotation_quaternion = (1, 0.1, 0, 0)
rig.pose.bones["jaw"].keyframe_insert("rotation_quaternion", frame=1)
hand = {"key": key.animation_data.action.name, "rig": rig.animation_data.action.name}
hand_keys = keys(fcurves(key)[0]).tolist()


def strips(idblock):
    return [[t.name, [[s.action.name, s.frame_start, s.frame_end, s.blend_in, s.blend_out, s.extrapolation,
                       s.blend_type] for s in t.strips]] for t in idblock.animation_data.nla_tracks]


def take_curve(name):
    # the mouthClose curve of the take's strip (the top track's)
    strip = key.animation_data.nla_tracks[-1].strips[0]
    curves = rigs.action_curves(strip.action, getattr(strip, "action_slot", None))
    return next(fc for fc in curves if fc.data_path == f'key_blocks["{name}"].value')


def evaluated(frame):
    scene.frame_set(frame)
    return key.key_blocks["mouthClose"].value


out = {}
assert generate() is None
drain(timeout=900)
out["message"] = wm.diffposetalk.message
out["active"] = [key.animation_data.action is None, rig.animation_data.action is None]
out["key_strips"], out["rig_strips"] = strips(key), strips(rig)
hand_strip = key.animation_data.nla_tracks[0].strips[0]
out["hand_kept"] = [hand_strip.action.name == hand["key"],
                    keys(rigs.action_curves(hand_strip.action, getattr(hand_strip, "action_slot", None))[0]).tolist()
                    == hand_keys]
curve = take_curve("mouthClose")
# frame 12: a quarter into the 4-frame blend in; 56: 2 frames before the end (58) of the 6-frame blend out
out["mix"] = {f: [evaluated(f), curve.evaluate(f)] for f in (5, 12, 30, 56, 70)}
first = keys(curve).tolist()
# From Rig reads the take from its strip (no Action is active).
animation = importlib.import_module(PKG + ".addon.animation")
read = animation.read_motion(rig, 11, 58, "arkit", fps=24)
close = importlib.import_module(PKG + ".backend.expression_spaces").ARKIT_CHANNELS.index("mouthClose")
out["read_back"] = float(abs(read["exp"][:, close] - generation.TAKES.motion(0)["exp"][:, close]).max())
# Bake & Export FBX bakes what plays: the strips mixed with the hand animation.
old_objects, old_meshes = set(bpy.data.objects), set(bpy.data.meshes)
bpy.ops.diffposetalk.export_fbx(filepath=str(TMP / "take.fbx"))
bpy.ops.import_scene.fbx(filepath=str(TMP / "take.fbx"), anim_offset=0.0)
imported = next(m for m in set(bpy.data.meshes) - old_meshes if m.shape_keys and "mouthClose" in m.shape_keys.key_blocks)
baked = next(fc for fc in fcurves(imported.shape_keys) if fc.data_path == 'key_blocks["mouthClose"].value')
out["fbx"] = {f: baked.evaluate(f) for f in (12, 30)}
for obj in set(bpy.data.objects) - old_objects:
    bpy.data.objects.remove(obj)
select_only(rig)
# The animator widens the blend in by hand; switching variations keeps it.
key.animation_data.nla_tracks[-1].strips[0].blend_in = 8
bpy.ops.diffposetalk.show_variation(index=1)
out["switched"] = [strips(key), strips(rig), keys(take_curve("mouthClose")).tolist() != first,
                   sorted(a.name for a in bpy.data.actions)]
second = keys(take_curve("mouthClose"))
settings.regenerate_frame_start, settings.regenerate_frame_end = 25, 40
bpy.ops.diffposetalk.regenerate_range()
drain(timeout=900)
out["regenerated_message"] = wm.diffposetalk.message
regenerated = keys(take_curve("mouthClose"))
outside = (second[:, 0] < 25) | (second[:, 0] > 40)
out["regenerated"] = [strips(key), bool((regenerated[outside] == second[outside]).all()),
                      float(abs(regenerated[~outside, 1] - second[~outside, 1]).max()),
                      sorted(a.name for a in bpy.data.actions if a.use_fake_user)]
settings.n_variations = 1
assert generate() is None   # a new take: a track of its own on top
drain(timeout=900)
out["second_take"] = [strips(key), strips(rig)]
result(out)
"""


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_takes_as_nla_strips_blend_over_hand_animation_and_switch_in_place(blender_addon, tiny_arkit_checkpoint):
    out = blender_addon(NLA, backend="real", rig=True, checkpoint=tiny_arkit_checkpoint, steps=4, timeout=900)
    assert out["message"].startswith("Lip-sync: 48 frames"), out["message"]
    assert out["active"] == [True, True], "the take is on the NLA, no Action is left active"
    (hand_track, hand_strips), (take_track, take_strips) = out["key_strips"]
    assert take_strips[0][1:] == [11.0, 58.0, 4.0, 6.0, "NOTHING", "REPLACE"], take_strips
    assert len(hand_strips) == 1 and out["hand_kept"] == [True, True], "the hand animation is kept, key for key"
    assert [len(out["rig_strips"]), out["rig_strips"][1][1][0][1:5]] == [2, [11.0, 58.0, 4.0, 6.0]]
    mix = {int(f): v for f, v in out["mix"].items()}
    assert mix[5][0] == pytest.approx(0.8) and mix[70][0] == pytest.approx(0.8), "outside the take: the hand pose"
    assert mix[12][0] == pytest.approx(0.75 * 0.8 + 0.25 * mix[12][1], abs=1e-5), "blend in: a quarter of the take"
    assert mix[30][0] == pytest.approx(mix[30][1], abs=1e-5), "inside: the take"
    assert mix[56][0] == pytest.approx(2 / 3 * 0.8 + mix[56][1] / 3, abs=1e-5), "blend out: a third, 2 frames from the end"
    assert out["read_back"] < 1e-5, "From Rig reads the take's strip"
    assert [out["fbx"][f] for f in ("12", "30")] == pytest.approx([mix[12][0], mix[30][0]], abs=1e-5), "FBX: as played"
    key_strips, rig_strips, changed, actions = out["switched"]
    assert len(key_strips) == 2 and changed, "a variation replaces the strip on the take's track"
    assert key_strips[1][1][0][3] == 8.0, "the strip's hand-set blend in is kept"
    assert out["regenerated_message"].startswith("Regenerated frames 25-40 as variation 3"), out["regenerated_message"]
    key_strips, outside_same, inside_change, kept = out["regenerated"]
    assert len(key_strips) == 2 and outside_same and inside_change > 1e-3
    assert kept, "the take before the edit is kept in the file"
    key_strips, rig_strips = out["second_take"]
    assert len(key_strips) == 3 and len(rig_strips) == 3, "a new take layers on a new track"
    assert key_strips[1][1][0][0] != key_strips[2][1][0][0], "the first take's strip stays on its track"


BONE_RIG = """
from mathutils import Euler, Matrix, Quaternion, Vector
rigs = importlib.import_module(PKG + ".addon.rigs")
scene.render.fps = 24
arm = bpy.data.armatures.new("Face"); rig = bpy.data.objects.new("Face", arm); scene.collection.objects.link(rig)
bpy.context.view_layer.objects.active = rig; rig.select_set(True)
bpy.ops.object.mode_set(mode="EDIT")
for name, head, parent in (("head", (0, 0, 0), None), ("jaw", (0, 0.02, -0.02), "head"),
                           ("lid.L", (0.03, -0.05, 0.05), "head"), ("lip.L", (0.02, -0.06, -0.03), "head")):
    bone = arm.edit_bones.new(name); bone.head = head; bone.tail = (head[0], head[1], head[2] + 0.02)
    if parent:
        bone.parent = arm.edit_bones[parent]
bpy.ops.object.mode_set(mode="OBJECT")
rig.pose.bones["lip.L"].rotation_mode = "XYZ"   # a control in Euler, as many rigs have them


def rest():
    for pb in rig.pose.bones:
        pb.location, pb.rotation_quaternion, pb.rotation_euler = (0, 0, 0), (1, 0, 0, 0), (0, 0, 0)


def pose_action(name, values):
    ad = rig.animation_data or rig.animation_data_create()
    action = bpy.data.actions.new(name); ad.action = action
    for (bone, prop), value in values.items():
        setattr(rig.pose.bones[bone], prop, value); rig.pose.bones[bone].keyframe_insert(prop, frame=1)
    ad.action = None
    rest()


pose_action("eyeBlinkLeft_pose", {("lid.L", "rotation_quaternion"): Quaternion((1, 0, 0), 0.4),
                                  ("lip.L", "location"): (0, 0, 0.01), ("lip.L", "rotation_euler"): (0.2, 0, 0)})
pose_action("mouthLeft pose", {("lip.L", "location"): (0.02, 0, 0), ("lip.L", "rotation_euler"): (0, 0, 0.3)})
# The artist's own animation: pushed onto the NLA, key for key.
rig.animation_data.action = bpy.data.actions.new("Hand")
rig.pose.bones["jaw"].location = (0, 0.001, 0); rig.pose.bones["jaw"].keyframe_insert("location", frame=1)
hand_keys = [keys(fc).tolist() for fc in fcurves(rig)]
rest()
out = {}
bpy.ops.diffposetalk.mapping_template()
text = scene.diffposetalk.mapping_text
out["template"] = [line for line in text.as_string().splitlines() if "pose:" in line and not line.startswith("#")]
text.clear(); text.write("mouthRight = pose: Nope\\n")
try:
    bpy.ops.diffposetalk.apply_mapping()
except RuntimeError as exc:
    out["missing"] = str(exc)
text.clear(); text.write("eyeBlinkLeft = pose: eyeBlinkLeft_pose\\nmouthLeft = pose: mouthLeft pose * 0.5\\n")
bpy.ops.diffposetalk.apply_mapping()
out["kind"] = rigs.rig_kind(rig)
use_audio_file(1.0)
assert generate() is None
drain()
out["message"] = wm.diffposetalk.message
motion = generation.TAKES.motion(0)
errors = {"lip_location": 0.0, "lip_rotation": 0.0, "lid": 0.0, "jaw_angle": 0.0}
for t in (0, 5, 11, 17, 23):
    scene.frame_set(1 + t)
    w_blink, w_left = float(motion["exp"][t, 0]), 0.5 * float(motion["exp"][t, 20])
    lip = rig.pose.bones["lip.L"]
    expected = Vector((0.02 * w_left, 0, 0.01 * w_blink))
    errors["lip_location"] = max(errors["lip_location"], (lip.location - expected).length)
    r = w_blink * Vector((0.2, 0, 0)) + w_left * Vector((0, 0, 0.3))
    difference = Euler(lip.rotation_euler, "XYZ").to_matrix() - Matrix.Rotation(r.length, 3, r.normalized())
    errors["lip_rotation"] = max(errors["lip_rotation"], max(abs(v) for row in difference for v in row))
    lid = rig.pose.bones["lid.L"].rotation_quaternion
    errors["lid"] = max(errors["lid"], lid.rotation_difference(Quaternion((1, 0, 0), 0.4 * w_blink)).angle)
    jaw = rig.pose.bones["jaw"].rotation_quaternion
    errors["jaw_angle"] = max(errors["jaw_angle"], abs(jaw.angle - float(np.linalg.norm(motion["pose"][t, 3:]))))
out["errors"] = errors
# From Rig reads the posed bones back into the mapped channels.
animation = importlib.import_module(PKG + ".addon.animation")
read = animation.read_motion(rig, 1, 24, "arkit", fps=24)
out["read_back"] = {"channels": float(max(abs(read["exp"][:, k] - motion["exp"][:, k]).max() for k in (0, 20))),
                    "others": float(abs(np.delete(read["exp"], [0, 20], axis=1)).max()),
                    "jaw": float(abs(read["pose"][:, 3:] - motion["pose"][:, 3:]).max())}
out["modes"] = [rig.pose.bones[b].rotation_mode for b in ("lip.L", "lid.L", "jaw", "head")]
out["paths"] = sorted({fc.data_path for fc in fcurves(rig)})
nla = [s.action for t in rig.animation_data.nla_tracks for s in t.strips]
out["hand"] = [[a.name for a in nla], [keys(fc).tolist() for fc in rigs.action_curves(nla[0])] == hand_keys]
result(out)
"""


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_a_bone_rig_is_posed_by_the_sum_of_its_mapped_poses(blender_addon):
    out = blender_addon(BONE_RIG)
    assert out["template"] == ["eyeBlinkLeft = pose: eyeBlinkLeft_pose", "mouthLeft = pose: mouthLeft pose"]
    assert "Nope" in out["missing"] and "pose" in out["missing"]
    assert out["kind"] == "custom"
    assert out["message"].startswith("Lip-sync: 24 frames"), out["message"]
    errors = out["errors"]
    assert errors["lip_location"] < 1e-6 and errors["lip_rotation"] < 1e-5, errors
    assert errors["lid"] < 1e-4 and errors["jaw_angle"] < 1e-4, errors
    read = out["read_back"]
    assert read["channels"] < 1e-4 and read["jaw"] < 1e-4, read
    assert read["others"] == 0.0, "channels no pose maps read as rest"
    assert out["modes"] == ["XYZ", "QUATERNION", "QUATERNION", "QUATERNION"], "the Euler control stays Euler"
    assert out["paths"] == ['pose.bones["head"].rotation_quaternion', 'pose.bones["jaw"].rotation_quaternion',
                            'pose.bones["lid.L"].rotation_quaternion', 'pose.bones["lip.L"].location',
                            'pose.bones["lip.L"].rotation_euler'], "only what the poses key, and head and jaw"
    assert out["hand"] == [["Hand"], True]


LINKED = """
rigs = importlib.import_module(PKG + ".addon.rigs")
ARKIT = importlib.import_module(PKG + ".backend.expression_spaces").ARKIT_BLENDSHAPES
scene.render.fps = 24


def mesh_object(name, key_names, parent=None, deform=None):
    mesh = bpy.data.meshes.new(name); mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new(name, mesh); character.objects.link(obj)
    obj.parent = parent
    if deform:
        obj.modifiers.new("Armature", "ARMATURE").object = deform
    for key_name in ["Basis", *key_names]:
        obj.shape_key_add(name=key_name)
    return obj


# The library: an armature with a head mesh (ARKit keys), teeth deformed by it and brows
# parented to the head mesh.
character = bpy.data.collections.new("Character"); scene.collection.children.link(character)
arm = bpy.data.armatures.new("Char"); rig = bpy.data.objects.new("Char rig", arm); character.objects.link(rig)
bpy.context.view_layer.objects.active = rig
bpy.ops.object.mode_set(mode="EDIT")
for name in ("head", "jaw"):
    arm.edit_bones.new(name).tail = (0, 0.1, 0)
bpy.ops.object.mode_set(mode="OBJECT")
head = mesh_object("Head", ARKIT[:30], parent=rig)
mesh_object("Teeth", ["jawOpen", "mouthClose"], deform=rig)
mesh_object("Brows", ["EyeBlinkLeft", "browInnerUp"], parent=head)
library = TMP / "character.blend"
bpy.data.libraries.write(str(library), {character})
bpy.data.collections.remove(character)
for collection in (bpy.data.objects, bpy.data.meshes, bpy.data.armatures, bpy.data.shape_keys):
    for block in list(collection):
        if block.users == 0 and block.library is None:
            collection.remove(block)
with bpy.data.libraries.load(str(library), link=True) as (source, target):
    target.collections = ["Character"]
linked = target.collections[0]
scene.collection.children.link(linked)
use_audio_file(1.0)
out = {}


def attempt(name, obj):
    started, unchanged = generate_on(obj)
    out[name] = {"operator": started, "panel": wm.diffposetalk.message, "unchanged": unchanged,
                 "rig_line": rigs.cached_rig_kind(obj)[1]}


attempt("linked", bpy.data.objects["Char rig"])
linked.override_hierarchy_create(scene, bpy.context.view_layer)
rig = next(o for o in bpy.data.objects if o.name.startswith("Char rig") and o.library is None)
attempt("mesh_data_linked", rig)
for obj in bpy.data.objects:
    if obj.library is None and obj.type == "MESH":
        obj.data = obj.data.override_create(remap_local_usages=True)
attempt("overridden", rig)
keyed = {}
for obj in bpy.data.objects:
    if obj.type == "MESH" and obj.data.shape_keys is not None:
        k = obj.data.shape_keys
        keyed[f"{obj.name} {'linked' if k.library else 'local'}"] = sorted(
            fc.data_path.split('"')[1] for fc in fcurves(k))
out["keyed"] = keyed
linked_rig = next(o for o in bpy.data.objects if o.type == "ARMATURE" and o.library is not None)
out["rig_keyed"] = [sorted({fc.data_path for fc in fcurves(rig)}), linked_rig.animation_data is None]
result(out)
"""


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_a_linked_character_is_animated_through_its_overrides_on_all_its_meshes(blender_addon):
    out = blender_addon(LINKED)
    for case in ("linked", "mesh_data_linked"):
        attempt = out[case]
        assert attempt["unchanged"] and "Make Library Override" in attempt["panel"], (case, attempt)
        assert "Make Library Override" in attempt["operator"] and "Make Library Override" in attempt["rig_line"]
    assert "'Char rig'" in out["linked"]["panel"]
    assert "mesh data" in out["mesh_data_linked"]["panel"], out["mesh_data_linked"]
    overridden = out["overridden"]
    assert overridden["operator"] is None and overridden["panel"].startswith("Lip-sync: 24 frames"), overridden
    assert "shape keys on Brows 2 (EyeBlinkLeft, browInnerUp)" in overridden["panel"], overridden["panel"]
    assert "Teeth 2 (jawOpen, mouthClose)" in overridden["panel"]
    keyed = out["keyed"]
    assert keyed["Brows local"] == ["EyeBlinkLeft", "browInnerUp"] and keyed["Teeth local"] == ["jawOpen", "mouthClose"]
    assert len(keyed["Head local"]) == 30, "every ARKit key of the head, jawOpen included"
    assert all(not paths for name, paths in keyed.items() if name.endswith("linked")), "nothing on linked data"
    assert out["rig_keyed"] == [['pose.bones["head"].rotation_quaternion'], True]


SELECTED_TOGETHER = """
rigs = importlib.import_module(PKG + ".addon.rigs")
panels = importlib.import_module(PKG + ".addon.panels")
channels = importlib.import_module(PKG + ".backend.expression_spaces").ARKIT_CHANNELS
scene.render.fps = 25


def mesh_with_keys(name, keys, x):
    mesh = bpy.data.meshes.new(name); mesh.from_pydata([(x, 0, 0), (x + 1, 0, 0), (x, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new(name, mesh); scene.collection.objects.link(obj)
    for key in ("Basis", *keys):
        obj.shape_key_add(name=key)
    return obj


# Neither mesh has enough ARKit shape keys to be a face on its own (20); together they have 33.
face = mesh_with_keys("Face", [*channels[14:32], "jawOpen"], 0)      # jaw and mouth
eyes = mesh_with_keys("Eyes", channels[0:14], 3)                    # lids and gaze
prop = mesh_with_keys("Prop", ["Bend"], 6)                          # not a face: never keyed
select_only(face)
out = {"alone": generate()}
eyes.select_set(True); prop.select_set(True)
use_audio_file(1.0, steps=ARGS["steps"])
assert generate() is None
drain(timeout=600)
out["message"] = wm.diffposetalk.message
out["line"] = panels._rig_line(face)[0]


def keyed(obj):
    return sorted(fc.data_path for fc in fcurves(obj.data.shape_keys))


out["keyed"] = {o.name: keyed(o) for o in (face, eyes, prop)}
blink = channels.index("eyeBlinkLeft")
curve = next(fc for fc in fcurves(eyes.data.shape_keys) if fc.data_path == 'key_blocks["eyeBlinkLeft"].value')
out["blink_error"] = float(abs(keys(curve)[:, 1] - generation.TAKES.motion(0)["exp"][:, blink]).max())
# Later, with only the face selected, Apply Adjustments still writes the whole character.
select_only(face)
scene.diffposetalk.lip_sync_offset = 2
before = keys(curve)
bpy.ops.diffposetalk.apply_adjustments()
drain(timeout=300)
curve = next(fc for fc in fcurves(eyes.data.shape_keys) if fc.data_path == 'key_blocks["eyeBlinkLeft"].value')
out["shifted"] = float(abs(keys(curve)[2:, 1] - before[:-2, 1]).max())
# The character is saved with the file.
path = str(TMP / "character.blend")
bpy.ops.wm.save_as_mainfile(filepath=path)
bpy.ops.wm.open_mainfile(filepath=path)
out["reopened"] = [m.name for m in rigs.character_meshes(bpy.data.objects["Face"])]
result(out)
"""


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_meshes_selected_together_are_one_character(blender_addon, tiny_arkit_checkpoint):
    out = blender_addon(SELECTED_TOGETHER, backend="real", checkpoint=tiny_arkit_checkpoint, steps=4)
    assert "Face" in out["alone"], out["alone"]
    assert out["message"].startswith("Lip-sync: 25 frames on 'Face'"), out["message"]
    assert "shape keys on Eyes 14" in out["message"] and "Face 19" in out["message"], out["message"]
    assert out["line"] == "Face (arkit) with Eyes, Prop", "every selected mesh with shape keys joins the character"
    assert len(out["keyed"]["Face"]) == 19 and len(out["keyed"]["Eyes"]) == 14
    assert out["keyed"]["Prop"] == [], "a mesh without the model's shape keys gets none"
    assert out["blink_error"] < 1e-6
    assert out["shifted"] < 1e-6, "the adjusted take went onto the eyes too"
    assert out["reopened"] == ["Eyes", "Prop"]
