"""Id validators: a malformed id is an InvalidArguments error naming it."""

import unittest

from aerie_plugin import InvalidArguments, ids

AID = "5388c592189444ad9e84df071c8f3954"
COMPOSITE = ("8693deb4bf134cfb8855ee118d9a0243:ind:5388c592189444ad9e84df071c8f3954:"
             "12119912898-10304-117513744")


class IdsTest(unittest.TestCase):
    def test_aids(self):
        self.assertEqual(ids.aid(AID.upper()), AID)
        for bad in ("5388c592", "zz88c592189444ad9e84df071c8f3954"):
            with self.subTest(bad=bad), self.assertRaisesRegex(InvalidArguments, "32 hex"):
                ids.aid(bad)

    def test_composite_ids(self):
        self.assertEqual(ids.composite_alert_id(f"  {COMPOSITE} "), COMPOSITE)
        for bad in ("ind:5388:1", "8693deb4bf134cfb8855ee118d9a0243:ind:x' OR 1"):
            with self.subTest(bad=bad), self.assertRaisesRegex(InvalidArguments, "composite"):
                ids.composite_alert_id(bad)

    def test_indicator_values(self):
        self.assertEqual(ids.sha256("A" * 64), "a" * 64)
        self.assertEqual(ids.domain("Evil.Example.com."), "evil.example.com")
        self.assertEqual(ids.ipv4(" 10.0.0.1"), "10.0.0.1")
        for f, bad in ((ids.sha256, "a" * 63), (ids.domain, "nodot"), (ids.domain, "1.2.3.4"),
                       (ids.domain, "a'b.com"), (ids.ipv4, "10.0.0.256")):
            with self.subTest(bad=bad), self.assertRaises(InvalidArguments):
                f(bad)

    def test_lists_dedupe_and_bound(self):
        self.assertEqual(ids.id_list([AID, AID.upper()], 5, "host id", ids.aid), [AID])
        with self.assertRaisesRegex(InvalidArguments, "at least one"):
            ids.id_list([], 5, "host id", ids.aid)
        with self.assertRaisesRegex(InvalidArguments, "at most 1"):
            ids.id_list([AID, AID], 1, "host id", ids.aid)


if __name__ == "__main__":
    unittest.main()
