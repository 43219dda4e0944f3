"""Dispatch: arguments in, Output or a typed error out; a bug is an internal error, not a trap."""

import json
import unittest

from aerie_plugin import (Ctx, Internal, InvalidArguments, NotFound, Output, Plugin, arg,
                          FileError)
from aerie_plugin.testing import FakeEnv

plugin = Plugin("demo", "1.2.3", "Demo")


@plugin.read("demo_echo", "Echo", ops=["QueryDevicesByFilter"])
def echo(ctx: Ctx, text: str = arg(description="What to say"), times: int = 1) -> Output:
    """Say it again."""
    ctx.log(f"echo {times}", "debug")
    ctx.progress(1, 1, "done")
    return Output.json(text * times, {"text": text, "times": times})


@plugin.write("demo_boom", "Boom", destructive=True, description="Fails.")
def boom(ctx: Ctx) -> Output:
    return {}["missing"]


@plugin.read("demo_plain", "Plain", description="Text.")
def plain(ctx: Ctx, name: str = "x") -> str:
    if name == "nobody":
        raise NotFound("user nobody")
    return f"hello {name} from {ctx.config('greeting', 'nowhere')}"


@plugin.read("demo_file", "File", description="Reads a file.")
def read_file(ctx: Ctx, name: str) -> str:
    return ctx.files.read(name).decode()


class PluginTest(unittest.TestCase):
    def test_tools_carry_their_metadata(self):
        t = plugin.tools
        self.assertEqual(list(t), ["demo_echo", "demo_boom", "demo_plain", "demo_file"])
        e, b = t["demo_echo"], t["demo_boom"]
        self.assertEqual(e.description, "Say it again.")
        self.assertEqual((e.write, e.idempotent, e.cacheable, e.operations),
                         (False, True, True, ("QueryDevicesByFilter",)))
        self.assertEqual((b.write, b.destructive, b.idempotent, b.cacheable),
                         (True, True, False, False))
        self.assertEqual(e.input_schema["required"], ["text"])

    def test_call_returns_text_and_structured(self):
        env = FakeEnv()
        out = plugin.call(env, "demo_echo", json.dumps({"text": "ab", "times": 2}))
        self.assertEqual(out.text, 'abab\n{"text":"ab","times":2}')
        self.assertEqual(out.structured, {"text": "ab", "times": 2})
        self.assertEqual(env.logs, [("debug", "echo 2")])
        self.assertEqual(env.progress_reports, [(1, 1, "done")])
        env.settings["greeting"] = "the host"
        self.assertEqual(plugin.call(env, "demo_plain", "{}").text, "hello x from the host")
        self.assertIsNone(plugin.call(env, "demo_plain", "{}").structured)

    def test_errors_are_typed(self):
        env = FakeEnv()
        with self.assertRaisesRegex(InvalidArguments, "`text` is required"):
            plugin.call(env, "demo_echo", "{}")
        with self.assertRaisesRegex(InvalidArguments, "not JSON"):
            plugin.call(env, "demo_echo", "{")
        with self.assertRaisesRegex(InvalidArguments, "unknown tool"):
            plugin.call(env, "nope", "{}")
        with self.assertRaisesRegex(NotFound, "user nobody"):
            plugin.call(env, "demo_plain", '{"name": "nobody"}')

    def test_an_unexpected_exception_is_internal_naming_it(self):
        env = FakeEnv()
        with self.assertRaises(Internal) as e:
            plugin.call(env, "demo_boom", "{}")
        self.assertEqual(e.exception.message, "demo_boom failed: KeyError: 'missing'")
        self.assertEqual(env.logs[0][0], "error")
        self.assertIn("test_plugin.py", env.logs[0][1])

    def test_files(self):
        env = FakeEnv()
        env.files["notes.txt"] = b"hi"
        self.assertEqual(plugin.call(env, "demo_file", '{"name": "notes.txt"}').text, "hi")
        with self.assertRaisesRegex(NotFound, "file `gone.txt`"):
            plugin.call(env, "demo_file", '{"name": "gone.txt"}')
        ctx = Ctx(env, "t")
        self.assertEqual(len(ctx.files.write("out.bin", b"\x00\x01")), 64)
        self.assertEqual([(f.name, f.size) for f in ctx.files.list()],
                         [("notes.txt", 2), ("out.bin", 2)])
        self.assertEqual(ctx.files.stat("out.bin").size, 2)
        env.read_file = lambda name: (_ for _ in ()).throw(FileError("denied", "no grant"))
        with self.assertRaisesRegex(Exception, "file `x`: no grant"):
            ctx.files.read("x")

    def test_export_is_importable_without_wasm(self):
        tools = plugin.export()
        self.assertTrue(callable(getattr(tools, "describe")))
        self.assertTrue(callable(getattr(tools, "call")))


if __name__ == "__main__":
    unittest.main()
