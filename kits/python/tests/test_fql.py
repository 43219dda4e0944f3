"""FQL quoting: a value from the model can never change the shape of the filter."""

import unittest

from aerie_plugin import Fql, lint, quote, since


class FqlTest(unittest.TestCase):
    def test_quoting_escapes_quote_and_backslash(self):
        self.assertEqual(quote("WEB01"), "'WEB01'")
        self.assertEqual(quote("a'b"), r"'a\'b'")
        self.assertEqual(quote("a\\b"), r"'a\\b'")
        self.assertEqual(quote(r"x\'+status:'closed"), r"'x\\\'+status:\'closed'")

    def test_injection_stays_inside_the_value(self):
        f = Fql().eq("hostname", "h' ,hostname:'*").eq("status", "normal").build()
        self.assertEqual(f, r"hostname:'h\' ,hostname:\'*'+status:'normal'")
        self.assertIsNone(lint(f))

    def test_builder_forms(self):
        f = (Fql().gte("severity", 60).gte("created_timestamp", "now-7d")
             .any_of("status", ["new", "in_progress"]).ne("status", "closed")
             .matches("os_version", "windows").eq("applied_globally", True)
             .opt(None, lambda f, v: f.eq("x", v)).opt("y", lambda f, v: f.lt("n", 3))
             .raw("a:'1',b:'2'").build())
        self.assertEqual(f, "severity:>=60+created_timestamp:>='now-7d'+"
                            "status:['new','in_progress']+status:!'closed'+"
                            "os_version:~'windows'+applied_globally:true+n:<3+(a:'1',b:'2')")
        self.assertIsNone(Fql().raw("  ").build())
        self.assertIsNone(Fql().any_of("a", []).build())
        self.assertEqual(Fql().or_(Fql().eq("a", "1"), Fql().eq("b", "2").eq("c", 3), Fql())
                         .ne("id", "x").build(), "(a:'1',(b:'2'+c:3))+id:!'x'")

    def test_field_names_and_values_are_checked(self):
        with self.assertRaises(ValueError):
            Fql().eq("host name", "x")
        with self.assertRaises(TypeError):
            Fql().eq("x", 1.5)

    def test_lint_catches_common_mistakes(self):
        self.assertIn("no `AND`", lint("status:'new' AND severity:>50"))
        self.assertIn("unterminated", lint("hostname:'it''"))
        self.assertIn("unbalanced", lint("(a:'1'"))
        self.assertIsNone(lint("name:'AND OR'+x:['a']"))

    def test_since(self):
        self.assertEqual(since("24h"), "now-24h")
        self.assertEqual(since("2w"), "now-14d")
        self.assertEqual(since("2025-06-13T00:00:00Z"), "2025-06-13T00:00:00Z")
        for bad in ("yesterday", "5y", "h", "2025-06-13' OR x"):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                since(bad)


if __name__ == "__main__":
    unittest.main()
