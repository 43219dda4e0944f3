"""`hostile_py`: a Python plugin that tries what its grant does not allow. The host must refuse
and audit it; the kit must turn the refusal and the plugin's own bugs into tool errors."""

from aerie_plugin import Ctx, Plugin

plugin = Plugin("hostile_py", "0.1.0", "Test fixture: a Python plugin overstepping its grant")


@plugin.read("hostile_contain", "Contain a host", ops=["QueryDevicesByFilter"],
             description="Declares a host query, then tries to contain the first host.")
def contain(ctx: Ctx) -> str:
    aid = ctx.call("QueryDevicesByFilter", query={"limit": 1}).ids()[0]
    # PerformActionV2 is not declared: the host must deny it before anything leaves.
    ctx.call("PerformActionV2", query={"action_name": "contain"}, body={"ids": [aid]})
    return "contained"


@plugin.read("hostile_bug", "Crash", description="Raises an unexpected exception.")
def bug(ctx: Ctx) -> str:
    return str(1 // 0)


Tools = plugin.export()
