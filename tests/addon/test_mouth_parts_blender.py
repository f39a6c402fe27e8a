"""The built-in head's teeth, tongue and mouth cavity in real bpy: Add Head builds them as
objects of their own, they follow the jaw (bone or jawOpen key), and the head's own
vertices stay exactly what the model and the evaluation measure."""
import numpy as np
import pytest

from addon_fixtures import blender_addon, extension_zip  # noqa: F401
from backend.expression_spaces import ARKIT_JAW_OPEN_RADIANS
from backend.heads import builtin, load_head

MOUTH = """
import math
rigs = importlib.import_module(PKG + ".addon.rigs")
face = next(child for child in rig.children if child.get(rigs.KIND_PROP))
parts = {child.name[len(face.name) + 1:]: child for child in rig.children if child is not face}


def local(obj):
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    evaluated.to_mesh_clear()
    return co.reshape(-1, 3).astype(np.float64)


def save(label):
    bpy.context.view_layer.update()
    for name, obj in parts.items():
        np.save(TMP / f"{label}_{name}.npy", local(obj))


out = {"parts": sorted(parts), "materials": {n: [m.name for m in o.data.materials] for n, o in parts.items()},
       "groups": {n: sorted(g.name for g in o.vertex_groups) for n, o in parts.items()},
       "keys": {n: [b.name for b in o.data.shape_keys.key_blocks] if o.data.shape_keys else [] for n, o in parts.items()},
       "face_polygons": len(face.data.polygons), "active": bpy.context.object.name == rig.name,
       "rig_kind": rigs.rig_kind(rig)}
co = np.empty(len(face.data.vertices) * 3, np.float32)
face.data.vertices.foreach_get("co", co)
np.save(TMP / "face.npy", co.reshape(-1, 3))
save("rest")
keys = face.data.shape_keys.key_blocks
keys["jawOpen"].value = 1.0
save("jaw_key")
keys["jawOpen"].value = 0.0
rig.pose.bones["jaw"].rotation_quaternion = (math.cos(ARGS["jaw"] / 2), math.sin(ARGS["jaw"] / 2), 0, 0)
save("jaw_bone")
rig.pose.bones["jaw"].rotation_quaternion = (1, 0, 0, 0)
keys["tongueOut"].value = 1.0
save("tongue_out")
result(out)
"""


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_add_head_builds_teeth_tongue_and_cavity_that_follow_the_jaw(blender_addon, tmp_path):
    out = blender_addon(MOUTH, rig=True, jaw=ARKIT_JAW_OPEN_RADIANS)
    assert out["parts"] == ["lower teeth", "mouth cavity", "tongue", "upper teeth"]
    assert out["materials"] == {"lower teeth": ["DiffPoseTalk teeth"], "mouth cavity": ["DiffPoseTalk mouth"],
                                "tongue": ["DiffPoseTalk tongue"], "upper teeth": ["DiffPoseTalk teeth"]}
    assert out["groups"]["upper teeth"] == ["jaw", "neck"] and out["keys"]["upper teeth"] == []
    assert out["keys"]["tongue"] == ["Basis", "jawOpen", "tongueOut"]
    assert out["active"] and out["rig_kind"] == "builtin"
    head = load_head("builtin")
    # Every vertex of the head where the model and the evaluation expect it; only its
    # closed inner mouth's faces are left out.
    np.testing.assert_array_equal(np.load(tmp_path / "face.npy"), head.template.astype(np.float32))
    assert out["face_polygons"] == len(builtin.without_inner_mouth(head).faces) < len(head.faces)

    parts = {part.name: part for part in builtin.load_mouth_parts()}

    def moved(label, name):
        return np.load(tmp_path / f"{label}_{name}.npy") - np.load(tmp_path / f"rest_{name}.npy")

    lower = moved("jaw_key", "lower teeth")
    assert lower[:, 1].max() < -0.015, "at jawOpen 1 the lower teeth drop more than 1.5 cm"
    np.testing.assert_allclose(lower, parts["lower teeth"].shapes["jawOpen"], atol=1e-6)
    assert np.abs(moved("jaw_key", "upper teeth")).max() == 0.0, "the upper teeth stay with the head"
    # The jaw bone at jawOpen's angle (how takes open this rig's mouth) moves them the same.
    np.testing.assert_allclose(moved("jaw_bone", "lower teeth"), lower, atol=1e-5)
    np.testing.assert_allclose(moved("jaw_bone", "tongue"), moved("jaw_key", "tongue"), atol=1e-5)
    assert np.abs(moved("jaw_bone", "upper teeth")).max() < 1e-7
    cavity = moved("jaw_bone", "mouth cavity")
    assert cavity[:, 1].min() < -0.015 and np.abs(cavity).min() < 1e-7, "the cavity's floor goes with the jaw, its roof stays"
    tongue = moved("tongue_out", "tongue")
    assert tongue[:, 2].max() > 0.03 and np.abs(moved("tongue_out", "lower teeth")).max() == 0.0
