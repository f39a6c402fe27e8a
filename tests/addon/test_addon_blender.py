"""The add-on in real bpy, installed from the extension zip built by Blender's builder.

Most tests drive it against the stand-in service (fake_backend.py) so that crashes,
garbage and cancels happen on demand; the end-to-end test uses the real
``python -m backend serve`` with the shipped default model.
"""
import pytest

from backend import protocol
from addon_fixtures import DEFAULT_MODEL, blender_addon, extension_zip, fake_python, tiny_arkit_checkpoint  # noqa: F401

@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_install_registers_preferences_and_uninstall_stops_the_backend(blender_addon):
    state = blender_addon(
        """
        out = {"prefs_idname": type(prefs).bl_idname, "python": prefs.python, "device": prefs.device}
        out["settings"] = [scene.diffposetalk.audio_scale, scene.diffposetalk.style_scale]
        rna = scene.diffposetalk.bl_rna.properties
        out["ranges"] = {name: [rna[name].hard_min, rna[name].hard_max] for name in
                         ("steps", "n_variations", "seed", "audio_scale", "style_scale", "head_motion_scale")}
        out["operators"] = sorted(name for name in dir(bpy.ops.diffposetalk))
        try:
            bpy.ops.diffposetalk.setup_backend()
            out["setup"] = "ran"
        except RuntimeError as exc:
            out["setup"] = str(exc)
        bpy.ops.diffposetalk.check_backend()
        out["status"] = prefs.status
        # Every state of the panel, its sub-panels and the preferences draws with existing
        # properties and operators.
        panels = importlib.import_module(PKG + ".addon.panels")
        preferences = importlib.import_module(PKG + ".addon.preferences")
        settings = scene.diffposetalk
        out["panels"] = [cls.bl_label for cls in panels.CLASSES]
        draw_panels = lambda: [entry for cls in panels.CLASSES for entry in draw(cls)]
        ops = [generation.DIFFPOSETALK_OT_keep_variation, generation.DIFFPOSETALK_OT_show_variation,
               importlib.import_module(PKG + ".addon.export").DIFFPOSETALK_OT_export_fbx]
        out["reasons"] = [op.disabled_reason(bpy.context) for op in ops]
        logs = []
        for source, style, quality in (("STRIP", "PRESET", "CUSTOM"), ("FILE", "ACTION", "DRAFT"), ("STRIP", "FILE", "HIGH")):
            settings.audio_source, settings.style_source, settings.quality = source, style, quality
            settings.use_model_guidance = source == "STRIP"
            logs.append(draw_panels())
        scene.sequence_editor_create()
        bpy.ops.diffposetalk.add_head(kind="BUILTIN")
        wm.diffposetalk.message = "two\\nlines"
        settings.take_rig = bpy.context.object.name
        generation.TAKES.motions = [{}, {}]  # two variations to choose from
        out["reasons_with_take"] = [op.disabled_reason(bpy.context) for op in ops]
        logs.append(draw_panels())
        for source in ("DEFAULT", "RELEASED", "CHECKPOINT"):
            prefs.model_source = source
            logs.append(draw(preferences.DIFFPOSETALK_AP_preferences, prefs))
        out["drawn"] = [[entry for entry in log if entry[0] != "label" or "Head" in entry[1]] for log in logs]
        pid = service.SESSION.client.pid
        bpy.ops.extensions.package_uninstall(
            repo_directory=bpy.utils.user_resource("EXTENSIONS", path="user_default"), pkg_id="diffposetalk")
        import os
        # The shutdown runs beside Blender's main thread; the process is gone soon after.
        out["backend_alive"] = True
        for _ in range(300):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                out["backend_alive"] = False
                break
            time.sleep(0.05)
        out["after"] = {"scene_props": hasattr(bpy.types.Scene, "diffposetalk"),
                        "operators": hasattr(bpy.types, "DIFFPOSETALK_OT_generate")}
        out["timer"] = bpy.app.timers.is_registered(service._timer)
        result(out)
        """
    )
    assert state["prefs_idname"] == "bl_ext.user_default.diffposetalk"
    assert state["settings"] == pytest.approx([1.15, 3.0])
    fields = protocol.PARAMS[protocol.Method.GENERATE]
    for name, (low, high) in state["ranges"].items():
        assert low == pytest.approx(fields[name].low), name
        assert high == pytest.approx(min(fields[name].high, 2**31 - 1)), name
    for name in ("generate", "cancel", "add_head", "export_fbx", "setup_backend", "check_backend", "keep_variation",
                 "show_variation"):
        assert name in state["operators"]
    assert "online access is off" in state["setup"], "setup must not touch the network while Blender is offline"
    assert "Backend fake is running on cpu" in state["status"]
    drawn = state["drawn"]
    assert ["operator", "diffposetalk.generate"] in drawn[0] and ["prop", "steps"] in drawn[0]
    assert ["prop", "style_frame_end"] in drawn[1] and ["prop", "audio_file"] in drawn[1]
    assert ["prop", "audio_scale"] in drawn[1] and ["prop", "audio_scale"] not in drawn[0], "own guidance shows sliders"
    assert [e for e in drawn[3] if e[0] == "prop_search"] and ["operator", "diffposetalk.show_variation"] in drawn[3]
    assert ["operator", "diffposetalk.show_variation"] not in drawn[0], "no variations, no buttons"
    assert all(["prop", name] in drawn[0] for name in protocol.ADJUSTMENTS), "the Adjust panel has every adjustment"
    assert ["operator", "diffposetalk.apply_adjustments"] in drawn[0]
    assert state["panels"] == ["Lip Sync", "Rig", "Audio", "Style", "Quality", "Take", "Adjust", "Export"]
    assert state["reasons"] == ["There are no variations to choose from"] * 2 + [
        "Generate lip-sync first: there is no take to export"]
    assert state["reasons_with_take"] == [None, None, None]
    assert ["operator", "diffposetalk.apply_mapping"] in drawn[3], "an armature takes a mapping to pose Actions"
    assert ["prop", "use_nla_strips"] in drawn[3]
    assert ["prop", "stats"] in drawn[5] and ["prop", "stats"] not in drawn[4]
    assert state["backend_alive"] is False
    assert state["after"] == {"scene_props": False, "operators": False}
    assert state["timer"] is False


def test_generate_on_a_sound_strip_with_variations(blender_addon):
    state = blender_addon(
        rig=True, script="""
        scene.render.fps = 30
        strip = add_strip(write_wav(TMP / "line.wav", 2.0), frame_start=11, name="line01")
        strip.frame_offset_start = 15  # trim half a second off the front
        strip.sound.pack()  # a packed sound works with its file gone
        (TMP / "line.wav").unlink()
        rig.select_set(True); bpy.context.view_layer.objects.active = rig
        scene.diffposetalk.n_variations = 3
        scene.diffposetalk.transcript = " the line "
        bpy.ops.ed.undo_push(message="before")
        before = snapshot()
        assert generate() is None
        out = {"busy_after_submit": service.SESSION.busy}
        job = service.SESSION.job
        out["request"] = {k: job.steps[-1][1][k] for k in ("start", "end", "fps", "n_variations")}
        out["transcript"] = job.steps[-1][1]["transcript"]
        out["guidance"] = [job.steps[-1][1][k] for k in ("audio_scale", "style_scale")]
        drain()
        after = snapshot()
        bpy.ops.ed.undo()
        out["one_undo_step"] = [snapshot() == before, after != before]
        bpy.ops.ed.redo()
        out["redo"] = snapshot() == after
        scene = bpy.context.scene  # undo reloads datablocks: fetch them again
        out["message"] = wm.diffposetalk.message
        out["variations"] = generation.TAKES.count
        out["take"] = [scene.diffposetalk.take_rig, scene.diffposetalk.take_frame_start, scene.diffposetalk.take_frame_end]
        out["actions"] = sorted(a.name for a in bpy.data.actions)
        first = [m["exp"][:, 0].tolist() for m in generation.TAKES.motions]
        bpy.ops.diffposetalk.show_variation(index=2)
        out["shown"] = [generation.TAKES.shown, wm.diffposetalk.message]
        out["actions_after_switch"] = sorted(a.name for a in bpy.data.actions)
        out["differ"] = first[0] != first[2]
        bpy.ops.diffposetalk.keep_variation()
        out["kept"] = [generation.TAKES.count, wm.diffposetalk.message]
        result(out)
        """
    )
    assert state["busy_after_submit"], "generate returns while the backend works"
    assert state["one_undo_step"] == [True, True] and state["redo"], "applying is one undo step"
    assert state["request"] == pytest.approx({"start": 0.5, "end": 2.0, "fps": 30.0, "n_variations": 3})
    assert state["guidance"] == [None, None], "by default the model's own guidance"
    assert state["transcript"] == "the line"
    assert "45 frames" in state["message"] and "3 variation" in state["message"], state["message"]
    assert state["variations"] == 3
    assert state["shown"] == [2, "Showing variation 3 of 3"]
    assert state["take"] == [state["take"][0], 26, 70]
    assert any("line01" in name for name in state["actions"]), state["actions"]
    assert state["actions_after_switch"] == state["actions"], "switching replaces our Action, adds none"
    assert state["differ"]
    assert state["kept"] == [1, "Kept variation 3"], "the kept variation stays editable"


def test_every_error_leaves_the_scene_unchanged(blender_addon, tmp_path):
    crash = blender_addon(
        rig=True, script="""
        add_strip(write_wav(TMP / "line.wav", 1.0))
        (TMP / "notes.wav").write_text("not audio at all")
        cube = bpy.data.objects.new("Cube", bpy.data.meshes.new("Cube")); scene.collection.objects.link(cube)
        errors = {}

        def attempt(name, select=None):
            started, unchanged = generate_on(select or rig)
            errors[name] = {"operator": started, "panel": wm.diffposetalk.message,
                            "is_error": wm.diffposetalk.message_is_error, "unchanged": unchanged}

        # backend not set up: no interpreter anywhere
        prefs.python = ""
        attempt("not_set_up")
        prefs.python = ARGS["python"]
        # the backend dies mid-job, then the next job starts a fresh one
        prefs.python = ARGS["crash_python"]
        attempt("crash")
        prefs.python = ARGS["python"]
        errors["alive_after_crash"] = service.SESSION.client is not None
        # bad audio: refused by the backend; a missing file is refused before it
        scene.diffposetalk.audio_source = "FILE"
        scene.diffposetalk.audio_file = str(TMP / "notes.wav")
        attempt("not_audio")
        scene.diffposetalk.audio_file = str(TMP / "missing.wav")
        attempt("missing_audio")
        scene.diffposetalk.audio_source = "STRIP"
        # a rig without the shape keys or bones the model drives
        attempt("bad_rig", select=cube)
        # more steps than the loaded model has: refused before the request is sent
        scene.diffposetalk.quality, scene.diffposetalk.steps = "CUSTOM", 600
        attempt("too_many_steps")
        scene.diffposetalk.quality = "STANDARD"
        # a result that is no usable motion (NaN) never reaches the rig
        prefs.python = ARGS["nan_python"]
        attempt("nan_result")
        prefs.python = ARGS["python"]
        # cancel while the backend works
        prefs.python = ARGS["slow_python"]
        for ob in bpy.context.view_layer.objects:
            ob.select_set(ob == rig)
        bpy.context.view_layer.objects.active = rig
        before = snapshot()
        assert generate() is None
        for _ in range(100):
            service.drain_events()
            if service.SESSION.job.stage == "decode":
                break
            time.sleep(0.05)
        bpy.ops.diffposetalk.cancel()
        drain()
        errors["cancel"] = {"panel": wm.diffposetalk.message, "unchanged": snapshot() == before,
                            "state": service.SESSION.job.state}
        # and a good run afterwards works
        prefs.python = ARGS["python"]
        errors["good_after"] = generate()
        drain()
        errors["good_message"] = wm.diffposetalk.message
        result(errors)
        """,
        crash_python=fake_python(tmp_path, "crash"),
        slow_python=fake_python(tmp_path, "slow"),
        nan_python=fake_python(tmp_path, "nan_motion"),
    )
    for name, needle in (
        ("not_set_up", "not set up"),
        ("crash", "stopped unexpectedly"),
        ("not_audio", "not audio"),
        ("missing_audio", "missing"),
        ("bad_rig", "Cube"),
        ("too_many_steps", "at most 500"),
        ("nan_result", "NaN"),
    ):
        case = crash[name]
        assert case["unchanged"], name
        assert case["is_error"] and needle in case["panel"], (name, case)
        if case["operator"] is not None:
            assert needle in case["operator"], (name, case)
    assert crash["crash"]["operator"] is None, "a crash happens after the job started"
    assert crash["alive_after_crash"] is False, "a crashed backend is dropped and restarted next time"
    assert crash["cancel"] == {"panel": "Lip-sync cancelled", "unchanged": True, "state": "cancelled"}
    assert crash["good_after"] is None and "Lip-sync:" in crash["good_message"], crash["good_message"]


END_TO_END = """
rigs = importlib.import_module(PKG + ".addon.rigs")
rig_math = importlib.import_module(PKG + ".addon.core.rig_math")
animation = importlib.import_module(PKG + ".addon.animation")
scene.render.fps = 24
strip = add_strip(write_wav(TMP / "line.wav", 3.0), frame_start=5, name="take01")
strip.frame_offset_start = 12  # half a second trimmed off each end: audio 0.5 .. 2.5 s
strip.frame_offset_end = 12
settings = scene.diffposetalk
settings.quality = "CUSTOM"
settings.steps = ARGS["steps"]
out = {}

# A previous animation on the rig must survive.
rig.pose.bones["jaw"].rotation_quaternion = (1, 0.1, 0, 0)
rig.pose.bones["jaw"].keyframe_insert("rotation_quaternion", frame=1)
previous = rig.animation_data.action.name

assert generate() is None
drain(timeout=900)
out["message"] = wm.diffposetalk.message
motion = generation.TAKES.motion(0)
T = len(motion["exp"])
out["frames"] = T
spec, armature, meshes = rigs.rig_spec(rig)
expected = rig_math.motion_to_curves(motion, spec, generation.TAKES.frame_start, generation.TAKES.fps)
mesh_curves = {fc.data_path: fc for mesh in meshes for fc in fcurves(mesh.data.shape_keys)}
bone_curves = {(fc.data_path, fc.array_index): fc for fc in fcurves(armature)}
starts, ends, counts, errors = set(), set(), set(), []
for name, values in expected.shape_keys.items():
    co = keys(mesh_curves[f'key_blocks["{name}"].value'])
    starts.add(co[0, 0]); ends.add(co[-1, 0]); counts.add(len(co))
    errors.append(float(np.abs(co[:, 1] - values).max()))
for bone, quats in expected.rotations.items():
    for i in range(4):
        co = keys(bone_curves[(f'pose.bones["{bone}"].rotation_quaternion', i)])
        counts.add(len(co))
        errors.append(float(np.abs(co[:, 1] - quats[:, i]).max()))
out["starts"], out["ends"], out["counts"] = sorted(starts), sorted(ends), sorted(counts)
out["max_error"] = max(errors)
out["strip"] = [strip.frame_final_start, strip.frame_final_end]
out["actions"] = {"rig": rig.animation_data.action.name, "nla": [
    s.action.name for t in rig.animation_data.nla_tracks for s in t.strips], "previous": previous}

# The backend's own output for the same request (a second run, same seed) matches.
request = dict(generation.TAKES.request, output=str(TMP / "again.npz"))
job = service.SESSION.submit(service.config(prefs), "check", "generate", request)
drain(timeout=900)
with np.load(TMP / "again.npz") as again:
    out["backend_diff"] = [float(np.abs(again["exp"] - motion["exp"]).max()),
                           float(np.abs(again["pose"] - motion["pose"]).max())]

# Style from the scene: read the written curves back and encode them like the original.
start, end = settings.take_frame_start, settings.take_frame_end
read = animation.read_motion(rig, start, end, spec.expression_space, fps=scene.render.fps)
out["read_diff"] = [float(np.abs(read["exp"][:, list(spec.channels)] - motion["exp"][:, list(spec.channels)]).max()),
                    float(np.abs(read["pose"][:, 3] - motion["pose"][:, 3]).max())]
vectors = []
for clip in (read, motion):
    style = {"kind": "motion", "exp": np.asarray(clip["exp"], float).tolist(), "pose": np.asarray(clip["pose"], float).tolist(),
             "fps": float(clip["fps"]), "expression_space": clip["expression_space"]}
    job = service.SESSION.submit(service.config(prefs), "check", "encode_style", {"style": style})
    drain(timeout=300)
    vectors.append(np.array(job.result["vector"]))
out["style_diff"] = float(np.abs(vectors[0] - vectors[1]).max())
out["style_norm"] = float(np.abs(vectors[1]).max())
# ... and the panel's "From Rig" style reaches the backend as that motion.
settings.style_source = "ACTION"
settings.style_frame_start, settings.style_frame_end = start, end
actions_before = sorted(a.name for a in bpy.data.actions)
assert generate() is None
sent = service.SESSION.job.steps[-1][1]["style"]
out["style_sent"] = [sent["kind"], len(sent["exp"])]
drain(timeout=900)
out["regenerated"] = [actions_before, sorted(a.name for a in bpy.data.actions), wm.diffposetalk.message,
                      [s.action.name for t in rig.animation_data.nla_tracks for s in t.strips]]

# Bake & Export FBX, then import it beside the rig and compare.
fbx = TMP / "take.fbx"
before_export = snapshot()
bpy.ops.diffposetalk.export_fbx(filepath=str(fbx))
out["export_unchanged"] = snapshot() == before_export
mesh_curves = {fc.data_path: fc for mesh in meshes for fc in fcurves(mesh.data.shape_keys)}
written = {name: keys(mesh_curves[f'key_blocks["{name}"].value'])[:, 1] for name in expected.shape_keys}
old_meshes, old_objects = set(bpy.data.meshes), set(bpy.data.objects)
bpy.ops.import_scene.fbx(filepath=str(fbx), anim_offset=0.0)
imported = {}
for mesh in set(bpy.data.meshes) - old_meshes:
    if mesh.shape_keys is not None:
        for fc in fcurves(mesh.shape_keys):
            imported[fc.data_path.split('"')[1]] = keys(fc)
shared = [name for name in written if name in imported]
out["fbx"] = {"shape_keys": len(shared), "of": len(written),
              "frames": sorted({float(imported[n][0, 0]) for n in shared} | {float(imported[n][-1, 0]) for n in shared}),
              "counts": sorted({len(imported[n]) for n in shared}),
              "error": max(float(np.abs(imported[n][:, 1] - written[n]).max()) for n in shared),
              "armatures": len([o for o in set(bpy.data.objects) - old_objects
                                if o.type == "ARMATURE" and o.animation_data and o.animation_data.action])}
result(out)
"""


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny", "default"])
def test_real_backend_generate_style_and_fbx_round_trips(blender_addon, tiny_arkit_checkpoint, model):
    if model == "default" and not (DEFAULT_MODEL / "config.json").is_file():
        pytest.skip(f"no default model shipped yet ({DEFAULT_MODEL} is missing)")
    checkpoint = tiny_arkit_checkpoint if model == "tiny" else None
    out = blender_addon(END_TO_END, backend="real", rig=True, checkpoint=checkpoint, steps=4 if model == "tiny" else 10)
    # 2 s of audio at 24 fps, keyed from the strip's first visible frame at the scene rate
    assert out["frames"] == 48, out
    assert out["strip"] == [17, 65]
    assert out["starts"] == [17.0] and out["ends"] == [17.0 + 47] and out["counts"] == [48]
    assert out["max_error"] < 1e-5, "keys hold exactly the rig curves of the backend's motion"
    assert out["backend_diff"] == [0.0, 0.0], "the take is the backend's output for that request"
    assert out["actions"]["rig"] != out["actions"]["previous"]
    assert out["actions"]["previous"] in out["actions"]["nla"], "the previous animation is kept on the NLA"
    assert max(out["read_diff"]) < 1e-4, "reading the curves back gives the written motion"
    assert out["style_diff"] < 1e-3 * max(1.0, out["style_norm"])
    assert out["style_sent"] == ["motion", 47 * 25 // 24 + 1], "frames 17..64 read at the model's 25 fps"
    before, after, message, nla = out["regenerated"]
    assert message.startswith("Lip-sync: 48 frames") and after == before, "regenerating replaces only our Actions"
    assert nla == out["actions"]["nla"], "the artist's Action stays on the NLA"
    fbx = out["fbx"]
    assert fbx["shape_keys"] == fbx["of"] and fbx["counts"] == [48] and fbx["frames"] == [17.0, 64.0], fbx
    assert fbx["error"] < 1e-5 and fbx["armatures"] == 1, fbx
    assert out["export_unchanged"], "exporting leaves the scene as it was"


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_custom_mapping_makes_any_mesh_a_rig(blender_addon):
    out = blender_addon(
        """
        rigs = importlib.import_module(PKG + ".addon.rigs")
        mesh = bpy.data.meshes.new("Blob"); mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
        blob = bpy.data.objects.new("Blob", mesh); scene.collection.objects.link(blob)
        for name in ("Basis", "mouthClose", "Smile", "Open"):
            blob.shape_key_add(name=name)
        bpy.context.view_layer.objects.active = blob; blob.select_set(True)
        out = {}
        try:
            rigs.rig_kind(blob)
        except rigs.RigError as exc:
            out["before"] = str(exc)
        bpy.ops.diffposetalk.mapping_template()
        text = scene.diffposetalk.mapping_text
        out["template_has_match"] = "mouthClose = mouthClose" in text.as_string()
        text.write("mouthSmileLeft = Smile * 0.5\\njaw = Open * 2.0\\n")
        bpy.ops.diffposetalk.apply_mapping()
        out["kind"] = rigs.rig_kind(blob)
        text.write("mouthSmileRight = Missing\\n")
        try:
            bpy.ops.diffposetalk.apply_mapping()
        except RuntimeError as exc:
            out["missing"] = str(exc)
        scene.diffposetalk.audio_source = "FILE"  # (an audio file works on Blender builds without sound too)
        scene.diffposetalk.audio_file = str(write_wav(TMP / "line.wav", 1.0))
        assert generate() is None
        drain()
        out["message"] = wm.diffposetalk.message
        result(out)
        """
    )
    assert "no FLAME" in out["before"]
    assert out["template_has_match"] and out["kind"] == "custom"
    assert "Missing" in out["missing"]
    assert out["message"].startswith("Lip-sync: 24 frames"), out["message"]  # 1 s at 24 fps


def test_a_registration_that_fails_part_way_leaves_nothing_behind(blender_addon):
    out = blender_addon(
        """
        addon = importlib.import_module(PKG + ".addon")
        addon.unregister()
        classes = addon._classes()

        def broken():
            raise RuntimeError("the last step fails")

        saved, service.register = service.register, broken
        try:
            addon.register()
        except RuntimeError as exc:
            out = {"error": str(exc)}
        service.register = saved
        out["left"] = {"classes": [cls.__name__ for cls in classes if cls.is_registered],
                       "scene_props": hasattr(bpy.types.Scene, "diffposetalk"),
                       "job_handlers": sorted(service.JOB_HANDLERS),
                       "depsgraph_handlers": [h.__name__ for h in bpy.app.handlers.depsgraph_update_post]}
        addon.register()
        out["again"] = all(cls.is_registered for cls in classes) and hasattr(bpy.types.Scene, "diffposetalk")
        result(out)
        """
    )
    assert out["error"] == "the last step fails"
    assert out["left"] == {"classes": [], "scene_props": False, "job_handlers": [], "depsgraph_handlers": []}
    assert out["again"]
