"""How the add-on tells the user things: why a button is greyed out, why an operator
failed, and the message line of the Lip Sync panel."""
from __future__ import annotations

import logging

import bpy

log = logging.getLogger(__name__)


class Checked:
    """Operator mixin: ``disabled_reason(context)`` (None when the operator can run) is
    both the poll and the greyed-out button's tooltip, and tests can call it directly."""

    @classmethod
    def disabled_reason(cls, context) -> str | None:
        return None

    @classmethod
    def poll(cls, context):
        reason = cls.disabled_reason(context)
        if reason is not None:
            cls.poll_message_set(reason)
        return reason is None


def tell(context, text: str, error: bool = False, report: bool = True):
    """Show ``text`` in the panel and (unless an operator reports it itself) the info log."""
    state = context.window_manager.diffposetalk
    state.message = text
    state.message_is_error = error
    (log.warning if error else log.info)("%s", text)
    if not report:
        return
    try:
        bpy.ops.diffposetalk.report(message=text, level="ERROR" if error else "INFO")
    except RuntimeError:
        pass  # an ERROR report raises in the caller once it is in the log


def fail(operator, context, message: str) -> set:
    """An operator's failure: shown in the panel and reported; returns ``{"CANCELLED"}``."""
    tell(context, message, error=True, report=False)
    operator.report({"ERROR"}, message)
    return {"CANCELLED"}


def succeed(operator, context, message: str) -> set:
    """An operator's success: shown in the panel and reported; returns ``{"FINISHED"}``."""
    tell(context, message, report=False)
    operator.report({"INFO"}, message)
    return {"FINISHED"}


class DIFFPOSETALK_OT_report(bpy.types.Operator):
    """Put a message in the info log"""

    bl_idname = "diffposetalk.report"
    bl_label = "Report"
    bl_options = {"INTERNAL"}

    message: bpy.props.StringProperty()
    level: bpy.props.StringProperty(default="INFO")

    def execute(self, context):
        self.report({self.level}, self.message)
        return {"FINISHED"}


CLASSES = (DIFFPOSETALK_OT_report,)
