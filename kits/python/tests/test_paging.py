"""Paging across pages up to a limit, with where the next page starts."""

import json
import unittest

from aerie_plugin import Ctx, Envelope, Response, paginate
from aerie_plugin.testing import FakeEnv

IDS = [f"id{i}" for i in range(25)]


def offset_api(request):
    q = dict(request.query)
    off, lim = int(q.get("offset", 0)), int(q["limit"])
    return Response(200, [], json.dumps({"meta": {"pagination": {"offset": off, "limit": lim,
                                                                  "total": len(IDS)}},
                                         "resources": IDS[off:off + lim]}).encode())


def cursor_api(request):
    q = dict(request.query)
    off, lim = int(q.get("after") or 0), int(q["limit"])
    nxt = off + lim
    p = {"limit": lim, "total": len(IDS)}
    if nxt < len(IDS):
        p["after"] = str(nxt)
    return Response(200, [], json.dumps({"meta": {"pagination": p},
                                         "resources": IDS[off:nxt]}).encode())


class PagingTest(unittest.TestCase):
    def test_offset_pages_until_the_limit(self):
        env = FakeEnv().answer("Q", offset_api)
        page = Ctx(env, "t").pages("Q", limit=12, page_size=5, query={"filter": "x:1"})
        self.assertEqual(page.results, IDS[:12])
        self.assertEqual((page.total, page.next, page.has_more), (25, 12, True))
        self.assertEqual([env.query(i)["limit"] for i in range(3)], [["5"], ["5"], ["2"]])
        self.assertEqual([env.query(i)["offset"] for i in range(3)], [["0"], ["5"], ["10"]])
        self.assertEqual(env.query(0)["filter"], ["x:1"])
        rest = Ctx(env, "t").pages("Q", limit=100, page_size=10, offset=page.next)
        self.assertEqual(rest.results, IDS[12:])
        self.assertEqual((rest.next, rest.has_more), (None, False))

    def test_cursor_pages_follow_after(self):
        env = FakeEnv().answer("C", cursor_api)
        page = Ctx(env, "t").pages("C", limit=12, page_size=5, cursor=True)
        self.assertEqual(page.results, IDS[:12])
        self.assertEqual((page.next, page.has_more), ("12", True))
        self.assertNotIn("after", env.query(0))
        self.assertEqual(env.query(1)["after"], ["5"])
        rest = Ctx(env, "t").pages("C", limit=50, page_size=10, after=page.next, cursor=True)
        self.assertEqual(rest.results, IDS[12:])
        self.assertIsNone(rest.next)

    def test_empty_and_window(self):
        page = paginate(lambda pos, size: Envelope(), limit=10)
        self.assertEqual((page.results, page.total, page.next), ([], 0, None))
        calls = []

        def deep(pos, size):
            calls.append((pos, size))
            return Envelope(resources=["x"] * size, meta={"pagination": {"total": 50_000}})

        page = paginate(deep, limit=100, page_size=100, offset=9_950)
        self.assertEqual(calls, [(9_950, 50)])
        self.assertIsNone(page.next, "no next page past the 10,000 offset window")

    def test_page_output(self):
        env = FakeEnv().answer("Q", offset_api)
        out = Ctx(env, "t").pages("Q", limit=3).output("hosts")
        self.assertTrue(out.text.startswith("3 of 25 hosts; next page: offset=3."), out.text)
        self.assertEqual(out.structured, {"results": IDS[:3], "total": 25, "next": 3,
                                          "has_more": True})


if __name__ == "__main__":
    unittest.main()
