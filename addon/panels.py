"""The "Lip Sync" tab in the 3D view's sidebar."""
import bpy


class DIFFPOSETALK_PT_lip_sync(bpy.types.Panel):
    bl_label = "Lip Sync"
    bl_idname = "DIFFPOSETALK_PT_lip_sync"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Lip Sync"

    def draw(self, context):
        self.layout.label(text="Generation is not available in this version yet.")


CLASSES = (DIFFPOSETALK_PT_lip_sync,)
