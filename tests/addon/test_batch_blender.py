"""Batch in real bpy (5.0: the 4.2 wheel has no sound strips): every sound strip onto its
rig over the frames it plays, against the stand-in service and the real backend."""
import textwrap

import numpy as np
import pytest

from addon_fixtures import blender_addon, extension_zip, fake_python, tiny_arkit_checkpoint  # noqa: F401
from project import ROOT

REAL_SPEECH = ROOT / "assets" / "real_speech"

# Two built-in heads and a cube; keys per rig as [first frame, last frame, keys per curve].
SCENE = """
batch = importlib.import_module(PKG + ".addon.batch")
panels = importlib.import_module(PKG + ".addon.panels")
scene.render.fps = 24
bpy.ops.diffposetalk.add_head(kind="BUILTIN")
ann = bpy.context.object
bpy.ops.diffposetalk.add_head(kind="BUILTIN")
bob = bpy.context.object
cube = bpy.data.objects.new("Box", bpy.data.meshes.new("Box")); scene.collection.objects.link(cube)


def key_ranges(rig):
    meshes = [m for m in rig.children if m.type == "MESH" and m.data.shape_keys is not None]
    curves = fcurves(rig) + [fc for m in meshes for fc in fcurves(m.data.shape_keys)]
    if not curves:
        return None
    co = [keys(fc) for fc in curves]
    return [min(c[0, 0] for c in co), max(c[-1, 0] for c in co), sorted({len(c) for c in co})]


def keyed_frames(rig):
    meshes = [m for m in rig.children if m.type == "MESH" and m.data.shape_keys is not None]
    curves = fcurves(rig) + [fc for m in meshes for fc in fcurves(m.data.shape_keys)]
    return sorted({int(round(f)) for fc in curves for f in keys(fc)[:, 0]})


def select_only(obj):
    for ob in bpy.context.view_layer.objects:
        ob.select_set(ob == obj)
    bpy.context.view_layer.objects.active = obj


def batch_error(**kwargs):
    try:
        bpy.ops.diffposetalk.generate_batch(**kwargs)
    except RuntimeError as exc:
        return str(exc)
    return None
"""


def in_scene(body: str) -> str:
    return SCENE + textwrap.dedent(body)


def test_batch_writes_each_strip_onto_its_rig_and_lists_the_rest(blender_addon):
    out = blender_addon(in_scene("""
        out = {"no_strips": batch.DIFFPOSETALK_OT_generate_batch.disabled_reason(bpy.context)}
        first = add_strip(write_wav(TMP / "a.wav", 1.0), frame_start=11, name="ann line")
        second = add_strip(write_wav(TMP / "b.wav", 2.0), frame_start=40, name="bob line")
        second.frame_offset_start = 12   # half a second trimmed: plays from frame 52
        third = add_strip(write_wav(TMP / "c.wav", 1.0), frame_start=100, name="cube line")
        fourth = add_strip(write_wav(TMP / "d.wav", 1.0), frame_start=130, name="ann again")
        # The Rig of a strip is set from the panel's operator (selected strips, the selected rig) ...
        for strip, rig in ((first, ann), (second, bob), (fourth, ann)):
            for s in (first, second, third, fourth):
                s.select = s == strip
            select_only(rig)
            bpy.ops.diffposetalk.set_strip_rig()
        # ... or by its field; the mesh of a rig stands for the rig.
        third.diffposetalk_rig = cube
        out["rigs"] = [s.diffposetalk_rig.name for s in (first, second, third, fourth)]
        out["names"] = [ann.name, bob.name]
        for s in (first, second, third, fourth):
            s.select = s in (first, second)
        select_only(bob)
        out["drawn_idle"] = [e for e in draw(batch.DIFFPOSETALK_PT_batch) if e[0] != "label"]
        before = snapshot()
        assert batch_error() is None
        out["drawn_running"] = [e for e in draw(batch.DIFFPOSETALK_PT_batch) if e[0] == "progress"]
        out["busy_reason"] = batch.DIFFPOSETALK_OT_generate_batch.disabled_reason(bpy.context)
        out["first_request"] = {k: service.SESSION.job.steps[-1][1][k] for k in ("start", "end", "fps", "n_variations")}
        drain()
        out["message"] = wm.diffposetalk.message
        out["keys"] = {"ann": key_ranges(ann), "bob": key_ranges(bob)}
        out["ann_frames"] = keyed_frames(ann)
        out["actions"] = sorted(a.name for a in bpy.data.actions)
        out["cube_untouched"] = cube.data.shape_keys is None and cube.animation_data is None
        # Selected strips only: the second strip alone, onto its rig again.
        assert batch_error(selected_only=True) is None
        drain()
        out["selected_message"] = wm.diffposetalk.message
        out["ann_frames_after_redo"] = keyed_frames(ann)
        for s in (first, second, third, fourth):
            s.select = False
        out["none_selected"] = batch_error(selected_only=True)
        result(out)
        """))
    assert out["no_strips"] == "The scene has no sound strips: add them in the Video Sequencer"
    ann, bob = out["names"]
    assert out["rigs"] == [ann, bob, "Box", ann]
    assert ["operator", "diffposetalk.generate_batch"] in out["drawn_idle"]
    assert ["prop", "diffposetalk_rig"] in out["drawn_idle"] and ["operator", "diffposetalk.set_strip_rig"] in out["drawn_idle"]
    assert len(out["drawn_running"]) == 2, "the strip's bar and the whole run's"
    assert "running" in out["busy_reason"]
    assert out["first_request"] == pytest.approx({"start": 0.0, "end": 1.0, "fps": 24.0, "n_variations": 1})
    lines = out["message"].splitlines()
    assert lines[0] == (f"Batch: 3 of 3 strips written; ann line on {ann!r}; bob line on {bob!r}; "
                        f"ann again on {ann!r}"), lines
    assert len(lines) == 2 and lines[1].startswith("Left out: cube line: ") and "no FLAME" in lines[1], lines
    # Each rig keyed over its strips' frames only: 1 s from frame 11 and from 130, 1.5 s from
    # frame 52, at 24 fps; one Action holds both strips of one rig.
    assert out["keys"] == {"ann": [11.0, 153.0, [48]], "bob": [52.0, 87.0, [36]]}
    assert out["ann_frames"] == list(range(11, 35)) + list(range(130, 154))
    assert any(name.startswith("ann again") for name in out["actions"])
    assert any(name.startswith("bob line") for name in out["actions"])
    assert out["cube_untouched"]
    assert out["selected_message"].splitlines() == [
        f"Batch: 2 of 2 strips written; ann line on {ann!r}; bob line on {bob!r}"], "the selected strips, no others"
    assert out["ann_frames_after_redo"] == out["ann_frames"], "a redone strip replaces only its own frames"
    assert "No sound strip is selected" in out["none_selected"]


def test_cancel_keeps_the_written_takes_and_writes_nothing_else(blender_addon, tmp_path):
    out = blender_addon(in_scene("""
        for k, rig in enumerate((ann, bob, None)):   # line2 goes onto the active rig
            strip = add_strip(write_wav(TMP / f"{k}.wav", 1.0), frame_start=1 + 40 * k, name=f"line{k}")
            strip.diffposetalk_rig = rig
        bpy.ops.diffposetalk.add_head(kind="BUILTIN")
        third = bpy.context.object
        select_only(third)
        assert batch_error() is None
        # The first strip runs on a working backend; the second meets one that never finishes.
        prefs.python = ARGS["slow_python"]
        for _ in range(400):
            service.drain_events()
            job = service.SESSION.job
            if batch.RUN.index == 1 and job.stage == "decode":
                break
            time.sleep(0.05)
        after_first = snapshot()
        bpy.ops.diffposetalk.cancel()
        drain()
        out = {"message": wm.diffposetalk.message, "unchanged_since_first": snapshot() == after_first,
               "keys": [key_ranges(r) for r in (ann, bob, third)], "ann": ann.name}
        result(out)
        """), slow_python=fake_python(tmp_path, "slow"))
    lines = out["message"].splitlines()
    assert lines[0] == f"Batch cancelled: 1 of 3 strips written; line0 on {out['ann']!r}", lines
    assert lines[-1] == "Not run (cancelled): line1, line2"
    assert out["unchanged_since_first"], "the cancelled strip writes nothing"
    assert out["keys"] == [[1.0, 24.0, [24]], None, None]


def test_a_failing_strip_does_not_stop_the_batch(blender_addon, tmp_path):
    out = blender_addon(in_scene("""
        good = add_strip(write_wav(TMP / "good.wav", 1.0), frame_start=30, name="good")
        good.diffposetalk_rig = bob
        bad = add_strip(write_wav(TMP / "notes.wav", 1.0), frame_start=1, name="bad")
        (TMP / "notes.wav").write_text("not audio at all")   # spoilt after Blender read it
        bad.diffposetalk_rig = ann
        assert batch_error() is None
        drain()
        result({"message": wm.diffposetalk.message, "error": wm.diffposetalk.message_is_error,
                "keys": [key_ranges(ann), key_ranges(bob)], "bob": bob.name})
        """))
    lines = out["message"].splitlines()
    assert lines[0] == f"Batch: 1 of 2 strips written; good on {out['bob']!r}", lines
    assert lines[1].startswith("Failed: bad: ") and "not audio" in lines[1]
    assert out["error"]
    assert out["keys"] == [None, [30.0, 53.0, [24]]]


@pytest.mark.slow
def test_real_backend_batches_recorded_lines_onto_two_rigs(blender_addon, tiny_arkit_checkpoint):
    out = blender_addon(in_scene("""
        scene.render.fps = 25
        lines = {"cards_001": (ann, 1), "cards_002": (bob, 61), "cards_003": (ann, 200)}
        for name, (rig, start) in lines.items():
            strip = add_strip(ARGS["speech"] + f"/{name}.flac", frame_start=start, name=name)
            strip.diffposetalk_rig = rig
        scene.sequence_editor.strips["cards_003"].mute = True
        strips = {s.name: [s.frame_final_start, s.frame_final_end] for s in scene.sequence_editor.strips}
        scene.diffposetalk.quality, scene.diffposetalk.steps = "CUSTOM", 4
        assert batch_error() is None
        drain(timeout=600)
        result({"message": wm.diffposetalk.message, "strips": strips, "names": [ann.name, bob.name],
                "keys": {"ann": key_ranges(ann), "bob": key_ranges(bob)}})
        """), backend="real", checkpoint=tiny_arkit_checkpoint, speech=str(REAL_SPEECH))
    lines = out["message"].splitlines()
    ann, bob = out["names"]
    assert lines[0] == f"Batch: 2 of 2 strips written; cards_001 on {ann!r}; cards_002 on {bob!r}", lines
    assert lines[1:] == ["Left out: cards_003: muted"]
    for rig, strip in (("ann", "cards_001"), ("bob", "cards_002")):
        first, end = out["strips"][strip]
        low, high, counts = out["keys"][rig]
        assert low == first and first <= high <= end - 1, (rig, out)
        assert high - low + 1 >= (end - first) - 1, "keys cover the strip's frames"


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_another_take_keeps_the_rigs_keys_outside_its_frames(blender_addon):
    out = blender_addon(in_scene("""
        animation = importlib.import_module(PKG + ".addon.animation")
        rng = np.random.default_rng(0)

        def motion(frames):
            return {"exp": rng.uniform(0, 1, (frames, 50)).astype(np.float32),
                    "pose": rng.normal(0, 0.1, (frames, 6)).astype(np.float32), "fps": 25.0,
                    "expression_space": "arkit"}

        scene.render.fps = 25
        first, second = motion(20), motion(10)
        animation.write_motion(ann, first, 1, 25.0, "first", tolerance=0.02)   # Bezier keys with handles
        before = {(fc.data_path, fc.array_index): keys(fc).tolist() for fc in fcurves(ann)}
        saved = animation.take_keys(ann)
        result_ = animation.write_motion(ann, second, 15, 25.0, "second")   # overlaps frames 15-20
        animation.restore_keys(ann, saved, "second", result_.frame_start, result_.frame_end)
        after = {(fc.data_path, fc.array_index): keys(fc).tolist() for fc in fcurves(ann)}
        scene.frame_set(5)
        result({"before": [[k[0], k[1], v] for k, v in before.items()], "after": [[k[0], k[1], v] for k, v in after.items()],
                "frames": keyed_frames(ann), "actions": sorted(a.name for a in bpy.data.actions if a.get("diffposetalk_take"))})
        """))
    before = {(path, index): np.array(co) for path, index, co in out["before"]}
    after = {(path, index): np.array(co) for path, index, co in out["after"]}
    assert set(after) == set(before)
    for curve, co in before.items():
        kept = co[co[:, 0] < 15]
        assert len(kept) and np.array_equal(after[curve][: len(kept)], kept), curve
        assert np.array_equal(after[curve][len(kept):, 0], np.arange(15.0, 25.0)), "the new take over its own frames"
    assert out["frames"][0] == 1 and out["frames"][-1] == 24
    assert len(out["actions"]) == 2, "one Action on the armature, one on the head's shape keys"


SHORTENED = """
scene.render.fps = 25
animation = importlib.import_module(PKG + ".addon.animation")
line = add_strip(write_wav(TMP / "line.wav", 2.0), frame_start=1, name="line")          # frames 1-50
other = add_strip(write_wav(TMP / "other.wav", 1.0), frame_start=100, name="other")     # frames 100-124
for strip in (line, other):
    strip.diffposetalk_rig = ann
scene.diffposetalk.quality, scene.diffposetalk.steps = "CUSTOM", 4
assert batch_error() is None
drain(timeout=600)
out = {"first": wm.diffposetalk.message, "frames_first": keyed_frames(ann)}
head = next(m for m in ann.children if m.type == "MESH" and m.data.shape_keys is not None)
key = head.data.shape_keys
out["types"] = sorted({p.type for fc in fcurves(key) + fcurves(ann) for p in fc.keyframe_points})
# Hand keys in the Action of ours: one between two of the take's frames, beyond the end the
# strip will have, and one where no take ever was.
jaw = key.key_blocks["jawOpen"]
for frame, value in ((40.5, 0.9), (80, 0.7)):
    jaw.value = value
    jaw.keyframe_insert("value", frame=frame)
# The artist's own Action on a prop.
prop = bpy.data.objects.new("Prop", None); scene.collection.objects.link(prop)
prop.keyframe_insert("location", frame=30)
line.frame_final_end = 26                      # now plays frames 1-25
assert batch_error() is None
drain(timeout=600)
out["second"] = wm.diffposetalk.message
out["frames_second"] = keyed_frames(ann)
jaw_curve = next(fc for fc in fcurves(key) if fc.data_path == 'key_blocks["jawOpen"].value')
out["hand"] = [[p.co[0], p.co[1], p.type] for p in jaw_curve.keyframe_points if p.type != "GENERATED"]
out["generated_between"] = sorted({p.co[0] for fc in fcurves(key) + fcurves(ann) for p in fc.keyframe_points
                                   if p.type == "GENERATED" and 25 < p.co[0] < 100})
out["spans"] = {a.name: {t: [list(i) for i in v] for t, v in a[animation.SPANS_PROP].items()}
                for a in bpy.data.actions if a.get(animation.OURS_PROP) and a.users}
out["prop"] = [keys(fc).tolist() for fc in fcurves(prop)]
result(out)
"""


@pytest.mark.slow
def test_a_shortened_strip_batched_again_leaves_no_old_keys_and_the_hand_keys(blender_addon, tiny_arkit_checkpoint):
    out = blender_addon(in_scene(SHORTENED), backend="real", checkpoint=tiny_arkit_checkpoint)
    assert out["first"].startswith("Batch: 2 of 2 strips written"), out["first"]
    assert out["frames_first"] == list(range(1, 51)) + list(range(100, 125))
    assert out["types"] == ["GENERATED"], "the take's keys are Generated keys"
    assert out["second"].startswith("Batch: 2 of 2 strips written"), out["second"]
    assert out["generated_between"] == [], "no key of the longer take is left beyond the strip's new end"
    assert out["frames_second"] == list(range(1, 26)) + [40, 80] + list(range(100, 125)), "40.5 rounds to 40"
    assert out["hand"] == [[40.5, pytest.approx(0.9), "KEYFRAME"], [80.0, pytest.approx(0.7), "KEYFRAME"]]
    assert out["prop"] == [[[30.0, 0.0]]] * 3, "the artist's Action is untouched"
    for spans in out["spans"].values():
        assert spans == {"line lip-sync": [[1.0, 25.0]], "other lip-sync": [[100.0, 124.0]]}, out["spans"]
