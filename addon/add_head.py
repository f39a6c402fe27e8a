"""Add a head to animate: the built-in head, or a FLAME head from the user's model file."""
import bpy
from bpy_extras.io_utils import ImportHelper

from . import rigs
from .reporting import Checked, fail


class DIFFPOSETALK_OT_add_head(Checked, bpy.types.Operator, ImportHelper):
    """Add a head rig ready for lip-sync: the built-in head or a head built from your FLAME model file"""

    bl_idname = "diffposetalk.add_head"
    bl_label = "Add Head"
    bl_options = {"REGISTER", "UNDO"}

    kind: bpy.props.EnumProperty(
        name="Head",
        items=(
            ("BUILTIN", "Built-in Head", "The head that ships with the extension (ARKit shape keys, jaw and neck bones)"),
            ("FLAME", "FLAME Model File", "A FLAME model file you downloaded (e.g. generic_model.pkl or FLAME 2023 Open)"),
        ),
        default="BUILTIN",
    )
    filter_glob: bpy.props.StringProperty(default="*.pkl;*.npz", options={"HIDDEN"})

    @classmethod
    def disabled_reason(cls, context):
        return None if context.mode == "OBJECT" else "Switch to Object Mode to add a head"

    def invoke(self, context, event):
        if self.kind == "FLAME":
            return ImportHelper.invoke(self, context, event)
        return self.execute(context)

    def execute(self, context):
        try:
            if self.kind == "FLAME":
                rig = rigs.add_flame_head(context, self.filepath)
            else:
                rig = rigs.add_builtin_head(context)
        except (rigs.RigError, OSError) as exc:
            return fail(self, context, str(exc))
        self.report({"INFO"}, f"Added {rig.name!r}")
        return {"FINISHED"}


CLASSES = (DIFFPOSETALK_OT_add_head,)
