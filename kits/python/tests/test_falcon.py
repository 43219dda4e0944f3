"""Falcon calls over a scripted host: requests as built, answers and refusals as tool errors."""

import json
import unittest

from aerie_plugin import Ctx, Denied, Internal, NotFound, Upstream
from aerie_plugin.testing import FakeEnv

FORBIDDEN = {"errors": [{"code": 403, "message": "access denied, authorization failed"}]}


class CallTest(unittest.TestCase):
    def test_request_is_built_as_written(self):
        env = FakeEnv().reply("PostEntitiesAlertsV2", {"resources": [{"id": "a"}]})
        ctx = Ctx(env, "t")
        e = (ctx.op("PostEntitiesAlertsV2").path("id", "x/y")
             .query(limit=10, include_hidden=False, skip=None, ids=["a", "b"])
             .body({"composite_ids": ["c1"]}).envelope())
        self.assertEqual(e.resources, [{"id": "a"}])
        r = env.requests[0]
        self.assertEqual(r.path_params, [("id", "x/y")])
        self.assertEqual(r.query, [("limit", "10"), ("include_hidden", "false"), ("ids", "a"),
                                   ("ids", "b")])
        self.assertEqual(json.loads(r.body), {"composite_ids": ["c1"]})

    def test_envelope_reads_pagination_and_nulls(self):
        env = FakeEnv().reply("Q", {"meta": {"pagination": {"total": 9, "after": "tok"}},
                                    "resources": ["a", "b"], "errors": None})
        e = Ctx(env, "t").call("Q", query={"filter": "x:'1'"})
        self.assertEqual((e.ids(), e.total, e.cursor, e.errors), (["a", "b"], 9, "tok", []))
        env = FakeEnv().reply("Q", {"resources": None})
        e = Ctx(env, "t").call("Q")
        self.assertEqual((e.resources, e.total, e.cursor), ([], 0, None))

    def test_a_403_names_the_scope_the_host_sends(self):
        env = FakeEnv().reply("queryVulnerabilities", FORBIDDEN, 403,
                              {"x-aerie-required-scope": "Vulnerabilities:read"})
        with self.assertRaises(Upstream) as e:
            Ctx(env, "t").call("queryVulnerabilities")
        self.assertEqual(e.exception.status, 403)
        self.assertIn("authorization failed", e.exception.message)
        self.assertIn("needs scope `Vulnerabilities:read`", e.exception.message)
        env = FakeEnv().reply("X", FORBIDDEN, 403)
        with self.assertRaises(Upstream) as e:
            Ctx(env, "t").call("X")
        self.assertNotIn("needs scope", e.exception.message)

    def test_statuses_map_to_errors_a_model_can_act_on(self):
        cases = [
            (404, NotFound, "host abc (GetDeviceDetailsV2: gone)"),
            (400, Upstream, "Check the filter"),
            (401, Upstream, "not a missing scope"),
            (409, Upstream, "fetch the current state"),
            (429, Upstream, "retry in a minute"),
            (503, Upstream, "retry later"),
        ]
        for status, cls, expect in cases:
            with self.subTest(status=status):
                env = FakeEnv().reply("GetDeviceDetailsV2",
                                      {"errors": [{"code": status, "message": "gone"}]}, status)
                with self.assertRaises(cls) as e:
                    (Ctx(env, "t").op("GetDeviceDetailsV2").query(filter="x:'1'")
                     .subject("host abc").envelope())
                self.assertIn(expect, e.exception.message)

    def test_allowed_statuses_come_back(self):
        env = FakeEnv().reply("GetDeviceDetailsV2", {"resources": []}, 404)
        self.assertEqual(Ctx(env, "t").call("GetDeviceDetailsV2", allow=[404]).resources, [])

    def test_host_refusals_become_clear_errors(self):
        cases = [
            ("denied", "operation not granted", Denied, "PerformActionV2: operation not granted"),
            ("timeout", None, Upstream, "timed out"),
            ("rate-limited", "retry in 30 s", Upstream, "rate limited: retry in 30 s"),
            ("transport", "connection reset", Upstream, "could not reach Falcon"),
            ("too-large", 1048576, Internal, "1048576-byte cap"),
            ("auth", "bad client secret", Internal, "operator must fix the credentials"),
        ]
        for kind, detail, cls, expect in cases:
            with self.subTest(kind=kind):
                env = FakeEnv().fail("PerformActionV2", kind, detail)
                with self.assertRaises(cls) as e:
                    Ctx(env, "t").call("PerformActionV2")
                self.assertIn(expect, e.exception.message)

    def test_non_json_bodies(self):
        env = FakeEnv().reply("X", b"<html>oops</html>", 502)
        with self.assertRaisesRegex(Upstream, "oops"):
            Ctx(env, "t").call("X")
        env = FakeEnv().reply("X", b"not json")
        with self.assertRaisesRegex(Internal, "not the expected JSON"):
            Ctx(env, "t").call("X")

    def test_hydrate_batches_and_skips_empty(self):
        env = FakeEnv().answer("PostDeviceDetailsV2", lambda r: __import__(
            "aerie_plugin").Response(200, [], json.dumps(
                {"resources": [{"device_id": i} for i in json.loads(r.body)["ids"]]}).encode()))
        ctx = Ctx(env, "t")
        self.assertEqual(ctx.hydrate("PostDeviceDetailsV2", []), [])
        self.assertEqual(env.requests, [])
        got = ctx.hydrate("PostDeviceDetailsV2", [str(i) for i in range(5)], batch=2)
        self.assertEqual([g["device_id"] for g in got], ["0", "1", "2", "3", "4"])
        self.assertEqual(len(env.requests), 3)


if __name__ == "__main__":
    unittest.main()
