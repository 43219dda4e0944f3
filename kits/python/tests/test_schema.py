"""Schemas generated from typed parameters, and arguments turned back into Python values."""

import enum
import unittest
from typing import Literal, Optional

from aerie_plugin import InvalidArguments, Plugin, arg
from aerie_plugin.schema import convert_args, object_schema, params_of


class Sort(enum.Enum):
    NEWEST = "newest"
    OLDEST = "oldest"


def handler(ctx,
            alert_id: str = arg(description="Composite alert id", pattern=r"^[0-9a-f]{32}:"),
            limit: int = arg(10, "Page size", min=1, max=100),
            hostname: Optional[str] = None,
            fields: list[str] = arg([], "Fields to keep", max_items=5),
            status: Literal["new", "closed"] = "new",
            sort: Sort = Sort.NEWEST,
            verbose: bool = False):
    return None


class SchemaTest(unittest.TestCase):
    def setUp(self):
        self.params = params_of(handler)

    def test_schema_is_closed_typed_and_bounded(self):
        s = object_schema(self.params)
        self.assertEqual(s["type"], "object")
        self.assertIs(s["additionalProperties"], False)
        self.assertEqual(s["required"], ["alert_id"])
        p = s["properties"]
        self.assertEqual(p["alert_id"], {"type": "string", "pattern": r"^[0-9a-f]{32}:",
                                         "description": "Composite alert id"})
        self.assertEqual(p["limit"], {"type": "integer", "minimum": 1, "maximum": 100,
                                      "description": "Page size", "default": 10})
        self.assertEqual(p["hostname"], {"type": "string"})
        self.assertEqual(p["fields"]["items"], {"type": "string"})
        self.assertEqual(p["fields"]["maxItems"], 5)
        self.assertEqual(p["status"], {"type": "string", "enum": ["new", "closed"],
                                       "default": "new"})
        self.assertEqual(p["sort"]["enum"], ["newest", "oldest"])
        self.assertEqual(p["sort"]["default"], "newest")
        self.assertEqual(p["verbose"], {"type": "boolean", "default": False})

    def test_arguments_become_python_values_with_defaults(self):
        a = convert_args(self.params, {"alert_id": "a" * 32 + ":x", "sort": "oldest",
                                       "limit": 5.0})
        self.assertEqual(a["limit"], 5)
        self.assertIsInstance(a["limit"], int)
        self.assertIs(a["sort"], Sort.OLDEST)
        self.assertIsNone(a["hostname"])
        self.assertEqual(a["status"], "new")
        self.assertIs(a["verbose"], False)

    def test_bad_arguments_say_what_to_fix(self):
        ok = {"alert_id": "a" * 32 + ":x"}
        cases = [
            ({}, "`alert_id` is required"),
            ({**ok, "extra": 1}, "unknown argument `extra`"),
            ({**ok, "limit": 0}, "at least 1"),
            ({**ok, "limit": 101}, "at most 100"),
            ({**ok, "limit": True}, "must be integer, not boolean"),
            ({**ok, "verbose": 1}, "must be boolean"),
            ({**ok, "status": "open"}, "one of new, closed"),
            ({**ok, "fields": ["a"] * 6}, "at most 5 items"),
            ({**ok, "fields": [1]}, "`fields[0]` must be string"),
            ({"alert_id": "nothex"}, "must match"),
        ]
        for args, expect in cases:
            with self.subTest(args=args):
                with self.assertRaises(InvalidArguments) as e:
                    convert_args(self.params, args)
                self.assertIn(expect, e.exception.message)

    def test_declaration_mistakes_fail_at_import(self):
        def untyped(ctx, x):
            pass

        def bad_bound(ctx, x: str = arg(min=1)):
            pass

        def bad_default(ctx, x: int = "ten"):
            pass

        for fn, expect in [(untyped, "annotate"), (bad_bound, "minimum does not apply"),
                           (bad_default, "must be integer")]:
            with self.subTest(fn=fn.__name__):
                with self.assertRaises((TypeError, InvalidArguments)) as e:
                    params_of(fn)
                self.assertIn(expect, str(e.exception))

    def test_plugin_declaration_checks_names_and_descriptions(self):
        p = Plugin("demo", "0.1.0", "Demo")
        with self.assertRaisesRegex(ValueError, "must match"):
            p.read("Bad-Name", "x", description="x")(handler)
        with self.assertRaisesRegex(ValueError, "needs a description"):
            p.read("no_doc", "x")(lambda ctx: None)
        p.read("ok", "x", description="x")(handler)
        with self.assertRaisesRegex(ValueError, "declared twice"):
            p.read("ok", "x", description="x")(handler)
        with self.assertRaisesRegex(ValueError, "plugin name"):
            Plugin("Demo!", "0.1.0", "x")


if __name__ == "__main__":
    unittest.main()
