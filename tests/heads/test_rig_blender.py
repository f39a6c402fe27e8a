"""Rigs in real Blender: what Blender evaluates after our keys is what the backend computes.

Each test runs one bpy subprocess (``run_blender``); motions are short.
"""
import numpy as np
import pytest

from backend.heads import load_head
from flame_fixture import write_flame_file

PRELUDE = """
import importlib, importlib.util, sys
import bpy
import numpy as np
spec = importlib.util.spec_from_file_location("diffposetalk", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
package = importlib.util.module_from_spec(spec)
sys.modules["diffposetalk"] = package
spec.loader.exec_module(package)
rigs = importlib.import_module("diffposetalk.addon.rigs")
animation = importlib.import_module("diffposetalk.addon.animation")
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene

def load_motion(path):
    with np.load(path) as data:
        return {k: (data[k] if data[k].ndim else data[k].item()) for k in data.files}

def evaluated_world(obj, frames):
    out = []
    for frame in frames:
        scene.frame_set(frame)
        evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        mesh = evaluated.to_mesh()
        co = np.empty(len(mesh.vertices) * 3, np.float32)
        mesh.vertices.foreach_get("co", co)
        matrix = np.array(evaluated.matrix_world)
        out.append(co.reshape(-1, 3).astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3])
        evaluated.to_mesh_clear()
    return np.stack(out)
"""

FIDELITY = PRELUDE + """
scene.render.fps, scene.render.fps_base = 25, 1.0
if ARGS["flame"]:
    rig = rigs.add_flame_head(bpy.context, ARGS["flame"], shape=np.array(ARGS["shape"]))
else:
    rig = rigs.add_builtin_head(bpy.context)
motion = load_motion(ARGS["motion"])
animation.write_motion(rig, motion, 1, 25.0, "fidelity")
mesh = next(child for child in rig.children if child.type == "MESH")
np.save(TMP / "blender.npy", evaluated_world(mesh, range(1, len(motion["exp"]) + 1)))
result({"kind": rigs.rig_kind(rig), "space": rigs.expression_space(mesh)})
"""


def blender_axes(vertices):
    """FLAME frame (Y up, face +Z) -> Blender world (Z up, face -Y)."""
    return np.stack([vertices[..., 0], -vertices[..., 2], vertices[..., 1]], -1)


def save_motion(path, rng, n_frames, space, exp_low, exp_high):
    motion = {
        "exp": rng.uniform(exp_low, exp_high, (n_frames, 50)).astype(np.float32),
        "pose": (rng.normal(0, 0.12, (n_frames, 6)) + [0, 0, 0, 0.15, 0, 0]).astype(np.float32),
        "fps": 25.0,
        "expression_space": space,
    }
    np.savez(path, **motion)
    return motion


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_builtin_rig_matches_backend_vertices(run_blender, tmp_path):
    motion = save_motion(tmp_path / "m.npz", np.random.default_rng(0), 8, "arkit", -0.2, 1.0)
    info = run_blender(FIDELITY, motion=str(tmp_path / "m.npz"), flame=None, shape=None)
    assert info == {"kind": "builtin", "space": "arkit"}
    got = np.load(tmp_path / "blender.npy")
    expected = blender_axes(load_head("builtin").vertices(motion))
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4   # 0.1 mm on every vertex and frame


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_flame_rig_matches_backend_vertices(run_blender, tmp_path):
    write_flame_file(tmp_path / "generic_model.pkl", "2020")
    rng = np.random.default_rng(1)
    motion = save_motion(tmp_path / "m.npz", rng, 8, "flame", -2.0, 2.0)
    shape = rng.normal(0, 1, 100)
    info = run_blender(FIDELITY, motion=str(tmp_path / "m.npz"), flame=str(tmp_path / "generic_model.pkl"), shape=shape.tolist())
    assert info == {"kind": "flame", "space": "flame"}
    got = np.load(tmp_path / "blender.npy")
    head = load_head(tmp_path / "generic_model.pkl")
    expected = blender_axes(head.vertices({**motion, "shape": shape}))
    assert np.abs(got - expected).max() < 1e-4
    # The motion really moves the mesh well beyond the tolerance.
    assert np.abs(expected - expected[:1]).max() > 5e-3


ROUND_TRIP = PRELUDE + """
scene.render.fps, scene.render.fps_base = 30, 1.0
rig = rigs.add_builtin_head(bpy.context)
mesh = next(child for child in rig.children if child.type == "MESH")
key = mesh.data.shape_keys
# The artist's own animation: a head turn on the armature and a blink on the shape keys.
rig.pose.bones["neck"].rotation_quaternion = (0.9, 0.1, 0.0, 0.0)
rig.pose.bones["neck"].keyframe_insert("rotation_quaternion", frame=1)
key.key_blocks["eyeBlinkLeft"].value = 0.7
key.key_blocks["eyeBlinkLeft"].keyframe_insert("value", frame=5)
theirs = {"armature": rig.animation_data.action.name, "key": key.animation_data.action.name}

motion = load_motion(ARGS["motion"])
first = animation.write_motion(rig, motion, 10, 30.0, "take")
first_ids = [bpy.data.actions[name].session_uid for name in first.actions]
frames = len(motion["exp"])
end = 10 + (frames - 1) * 30.0 / 25.0
back = animation.read_motion(rig, 10, end, "arkit")
state = {
    "first": first.actions, "pushed": sorted(first.pushed_down),
    "active_after_first": [rig.animation_data.action.name, key.animation_data.action.name],
    "exp_error": float(np.abs(back["exp"] - motion["exp"]).max()),
    "pose_error": float(np.abs(back["pose"] - motion["pose"]).max()),
    "frames_read": len(back["exp"]),
    "ours_marked": [bool(bpy.data.actions[name].get(animation.OURS_PROP)) for name in first.actions],
}
second = animation.write_motion(rig, {**motion, "exp": motion["exp"] * 0.5}, 10, 30.0, "take")
state.update({
    "second": second.actions, "second_pushed": second.pushed_down,
    "first_gone": [uid not in {a.session_uid for a in bpy.data.actions} for uid in first_ids],
    "actions": sorted(a.name for a in bpy.data.actions),
    "tracks": {
        "armature": [[s.action.name for s in t.strips] for t in rig.animation_data.nla_tracks],
        "key": [[s.action.name for s in t.strips] for t in key.animation_data.nla_tracks],
    },
    "theirs": theirs,
    "their_keys_intact": rig.animation_data.nla_tracks[0].strips[0].action is bpy.data.actions[theirs["armature"]],
    "slotted": animation.SLOTTED,
    "version": list(bpy.app.version),
})
back2 = animation.read_motion(rig, 10, end)
state["second_exp_error"] = float(np.abs(back2["exp"] - motion["exp"] * 0.5).max())
result(state)
"""


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_write_read_round_trip_preserves_and_replaces(run_blender, tmp_path):
    save_motion(tmp_path / "m.npz", np.random.default_rng(2), 12, "arkit", 0.0, 1.0)
    state = run_blender(ROUND_TRIP, motion=str(tmp_path / "m.npz"))
    assert state["slotted"] == (tuple(state["version"]) >= (4, 4))   # legacy fcurves on 4.2
    assert state["frames_read"] == 12
    assert state["exp_error"] < 1e-6 and state["pose_error"] < 1e-5
    assert state["ours_marked"] == [True, True]
    assert state["active_after_first"] == state["first"]
    # The artist's Actions went onto the NLA, once, and still exist after the rewrite.
    assert state["pushed"] == sorted(state["theirs"].values())
    assert state["second_pushed"] == []
    assert state["tracks"] == {"armature": [[state["theirs"]["armature"]]], "key": [[state["theirs"]["key"]]]}
    assert state["their_keys_intact"]
    # The rewrite replaced our first Actions and nothing else.
    assert all(state["first_gone"]) and state["first_gone"]
    assert sorted(state["actions"]) == sorted(state["second"] + list(state["theirs"].values()))
    assert state["second_exp_error"] < 1e-6


DETECT = PRELUDE + """
def mesh_with_keys(name, keys):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new(name, mesh)
    scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    for key in keys:
        obj.shape_key_add(name=key).data[0].co = (0, 0, 0.1)
    return obj

arkit_names = [n for n in ARGS["arkit"]]
prefixed = mesh_with_keys("cc_face", ["ARKit_" + n.upper() for n in arkit_names])
plain = mesh_with_keys("plain", ["smile", "frown"])
flame_like = mesh_with_keys("FLAME-neutral", [f"Exp{i}" for i in range(1, 101)] + [f"Pose{i}" for i in range(1, 19)])
spec = rigs.rig_spec(prefixed)[0]
out = {"prefixed": [spec.kind, spec.expression_space, len(spec.channels), spec.jaw_shape_key],
       "flame_like": rigs.rig_kind(flame_like)}
try:
    rigs.rig_spec(plain)
    out["plain"] = "accepted"
except rigs.RigError as exc:
    out["plain"] = str(exc)
rigs.set_custom_mapping(plain, "arkit", {"mouthSmileLeft": ("smile", 0.5), "jaw": ("frown", 2.0)})
bpy.ops.wm.save_as_mainfile(filepath=str(TMP / "mapped.blend"))
bpy.ops.wm.open_mainfile(filepath=str(TMP / "mapped.blend"))
plain = bpy.data.objects["plain"]
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = 25, 1.0
out["mapping"] = rigs.get_custom_mapping(plain)
motion = {"exp": np.zeros((3, 50), np.float32), "pose": np.zeros((3, 6), np.float32), "fps": 25.0, "expression_space": "arkit"}
motion["exp"][:, ARGS["smile"]] = [0.2, 0.4, 0.6]
motion["pose"][:, 3] = [0.1, 0.2, 0.3]      # jaw opening
animation.write_motion(plain, motion, 1, 25.0, "mapped")
back = animation.read_motion(plain, 1, 3)
out["mapped_keys"] = []
for frame in (1, 2, 3):
    scene.frame_set(frame)
    out["mapped_keys"].append([plain.data.shape_keys.key_blocks[n].value for n in ("smile", "frown")])
out["mapped_back"] = [back["exp"][:, ARGS["smile"]].round(5).tolist(), back["pose"][:, 3].round(5).tolist()]
result(out)
"""


def test_detects_arkit_flame_and_custom_rigs(run_blender):
    from backend.expression_spaces import ARKIT_BLENDSHAPES, ARKIT_CHANNELS

    out = run_blender(DETECT, arkit=list(ARKIT_BLENDSHAPES), smile=ARKIT_CHANNELS.index("mouthSmileLeft"))
    assert out["prefixed"][:3] == ["arkit", "arkit", 50]
    assert out["prefixed"][3][0] == "ARKit_JAWOPEN"
    assert out["flame_like"] == "flame"
    assert "no FLAME" in out["plain"] and "map" in out["plain"]
    # (name, scale, pose): shape keys here
    assert out["mapping"] == {"expression_space": "arkit",
                              "channels": {"mouthSmileLeft": ["smile", 0.5, False], "jaw": ["frown", 2.0, False]}}
    np.testing.assert_allclose(out["mapped_keys"], [[0.1, 0.2], [0.2, 0.4], [0.3, 0.6]], atol=1e-6)
    np.testing.assert_allclose(out["mapped_back"], [[0.2, 0.4, 0.6], [0.1, 0.2, 0.3]], atol=1e-5)
