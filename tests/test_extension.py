"""The extension package: Blender's validator, Blender's builder, install and uninstall in bpy."""
import subprocess
import sys
import zipfile

import pytest

from project import ROOT, isolated_env


def build(tmp_path):
    out = tmp_path / "build"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--output-dir", str(out)],
        capture_output=True, text=True, env=isolated_env(tmp_path / "home"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    zips = list(out.glob("*.zip"))
    assert len(zips) == 1, zips
    return zips[0]


def test_manifest_passes_blenders_validator(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--validate-only"],
        capture_output=True, text=True, env=isolated_env(tmp_path / "home"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FATAL" not in proc.stdout + proc.stderr


def test_zip_carries_addon_and_backend_only(tmp_path):
    names = zipfile.ZipFile(build(tmp_path)).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert "addon/__init__.py" in names
    assert "backend/__init__.py" in names and "backend/expression_spaces.py" in names
    assert "backend/cli/serve.py" in names, "the command the add-on starts"
    assert {"requirements.txt", "requirements-speech.txt"} <= set(names), "what Set up Backend installs"
    assert "backend/heads/data/builtin_head.npz" in names and not [n for n in names if "build_builtin" in n], \
        "the built-in head's data, not its build script"
    assert not [n for n in names if n.startswith(("tests/", "docs/", "scripts/", "benchmarks/", ".", "build/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


@pytest.mark.parametrize("blender", ["5.0", "4.2"], indirect=True)
def test_install_enable_and_uninstall_in_blender(tmp_path, run_blender):
    zip_path = build(tmp_path)
    state = run_blender(
        """
        import bpy

        module_name = "bl_ext.user_default.diffposetalk"
        bpy.ops.extensions.package_install_files(
            filepath=ARGS["zip"], repo="user_default", enable_on_install=True)
        import importlib
        package = importlib.import_module(module_name)
        addon_package = importlib.import_module(module_name + ".addon")
        classes = addon_package._classes()
        enabled = {
            "enabled": module_name in bpy.context.preferences.addons,
            "classes": [cls.__name__ for cls in classes],
            "registered": [cls.__name__ for cls in classes if cls.is_registered],
            "operators": [cls.bl_idname for cls in classes if issubclass(cls, bpy.types.Operator)],
            "panels": [cls.bl_idname for cls in classes if issubclass(cls, bpy.types.Panel)],
        }
        enabled["operators_callable"] = [
            idname for idname in enabled["operators"]
            if hasattr(getattr(bpy.ops, idname.split(".")[0]), idname.split(".")[1])
        ]
        bpy.ops.extensions.package_uninstall(repo_directory=bpy.utils.user_resource(
            "EXTENSIONS", path="user_default"), pkg_id="diffposetalk")
        removed = {
            "enabled": module_name in bpy.context.preferences.addons,
            "registered": [cls.__name__ for cls in classes if cls.is_registered],
            "installed": (Path(bpy.utils.user_resource("EXTENSIONS", path="user_default")) / "diffposetalk").exists(),
        }
        result({"enabled": enabled, "removed": removed})
        """,
        zip=str(zip_path),
    )
    enabled, removed = state["enabled"], state["removed"]
    assert enabled["enabled"]
    assert enabled["classes"] and enabled["registered"] == enabled["classes"]
    assert enabled["panels"], "the Lip Sync panel must be registered"
    assert enabled["operators_callable"] == enabled["operators"]
    assert not removed["enabled"]
    assert removed["registered"] == []
    assert not removed["installed"]
