"""The Python binding against the provider emulators (babysea-emulators run as a
child process; BABYSEA_EMULATORS_BIN names it, BABYSEA_LIBRARY the library)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import babysea  # noqa: E402
from babysea import errors  # noqa: E402

PROMPT = {"generation_prompt": "a lighthouse at dawn"}
MODEL = "bfl/flux-schnell"
STRIPE_SECRET = "whsec_pytest"


def start_emulators(tmp: str) -> tuple[subprocess.Popen, dict]:
    binary = os.environ.get("BABYSEA_EMULATORS_BIN")
    if not binary:
        raise RuntimeError("BABYSEA_EMULATORS_BIN is not set")
    config = os.path.join(tmp, "emulators.json")
    with open(config, "w") as f:
        json.dump({"replicate": {"api_key": "r8_pytest", "queued_ms": 100, "running_ms": 1500},
                   "fal": {"api_key": "fal_pytest", "queued_ms": 100, "running_ms": 1500}}, f)
    proc = subprocess.Popen([binary, "--config", config], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("{"):
        proc.kill()
        raise RuntimeError(f"babysea-emulators did not start: {line!r}")
    return proc, json.loads(line)


def engine_config(tmp: str, urls: dict, **engine: object) -> dict:
    return {
        "region": "us",
        "api_key_pepper": "python-test-pepper-0123456789abcdef0123",
        "database": {"engine": "sqlite", "path": os.path.join(tmp, "babysea.db"), "synchronous": "normal"},
        "assets": {"directory": os.path.join(tmp, "assets"), "public_base_url": "https://app.us.babysea.ai/files"},
        "providers": {
            "replicate": {"base_url": urls["replicate"], "api_token": "r8_pytest",
                          "webhook_secrets": [urls["replicate_webhook_secret"]]},
            "fal": {"base_url": urls["fal"], "api_key": "fal_pytest", "jwks_url": urls["fal_jwks_url"],
                    "user_id": urls["fal_user_id"]},
        },
        "stripe": {"endpoint_secrets": [STRIPE_SECRET], "packs": [{"price_id": "price_10", "credits": "10"}]},
        "net_guard": {"allow_loopback": True, "allow_any_port": True, "allow_private": True},
        "engine": {"threads": 2, "tick_ms": 50, "retry_delay_ms": 200, **engine},
        "webhooks": {"enabled": False},
    }


def wait_for(engine: babysea.Engine, key: str, gid: str, status: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        g = engine.get(key, gid)
        if g["generation_status"] == status:
            return g
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {status}: {g}")
        time.sleep(0.1)


class StaticTest(unittest.TestCase):
    def test_version(self) -> None:
        self.assertRegex(babysea.version(), r"^\d+\.\d+\.\d+$")
        major, minor, patch = (int(x) for x in babysea.version().split("."))
        self.assertEqual(babysea.version_number(), major * 10000 + minor * 100 + patch)

    def test_error_names_and_classes(self) -> None:
        self.assertEqual(babysea.error_name(3), "insufficient_credits")
        self.assertEqual(babysea.error_name(999), "unknown")
        for code, cls in errors.BY_CODE.items():
            self.assertEqual(babysea.error_name(code), cls.type, cls)
            self.assertTrue(issubclass(cls, babysea.BabyseaError))
        self.assertIs(errors.BY_CODE[3], babysea.InsufficientCredits)
        self.assertIs(errors.BY_CODE[2], babysea.NotFound)

    def test_bad_config(self) -> None:
        with self.assertRaises(babysea.InvalidRequest) as cm:
            babysea.Engine({"api_key_pepper": "0123456789abcdef0123456789abcdef", "database": {"engine": "memory"},
                            "assets": {"directory": "/tmp/babysea-py-unused", "public_base_url": "https://a.b/f"},
                            "bogus_key": 1})
        self.assertEqual(cm.exception.code, 1)
        self.assertTrue(any("bogus_key" in (i.get("field", "") + i.get("message", ""))
                            for i in cm.exception.issues), cm.exception.issues)
        with self.assertRaises(babysea.InvalidRequest):
            babysea.Engine("not json")


def postgres_config(tmp: str, database: dict) -> dict:
    return {
        "api_key_pepper": "python-test-pepper-0123456789abcdef0123",
        "database": {"engine": "postgres", **database},
        "assets": {"directory": os.path.join(tmp, "assets"), "public_base_url": "https://a.example/f"},
        "engine": {"threads": 1, "start_workers": False},
        "webhooks": {"enabled": False},
    }


class PostgresConfigTest(unittest.TestCase):
    """database.engine "postgres": bad keys and an unreachable server are named errors."""

    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="babysea-py-pg-")

    def tearDown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assert_field(self, err: babysea.BabyseaError, field: str) -> None:
        self.assertTrue(err.issues, err)
        self.assertEqual(err.issues[0]["field"], field, err)
        self.assertIn(field, err.message)
        self.assertNotIn("s3cret-pw", str(err) + json.dumps(err.issues))

    def test_unreachable_server(self) -> None:
        for url in ("postgresql://babysea:s3cret-pw@127.0.0.1:1/x?connect_timeout=2",
                    "host=127.0.0.1 port=1 dbname=x password=s3cret-pw connect_timeout=2"):
            with self.assertRaises(babysea.Unavailable) as cm:
                babysea.Engine(postgres_config(self.tmp, {"url": url}))
            self.assertEqual(cm.exception.code, 17)
            self.assert_field(cm.exception, "database.url")

    def test_bad_keys(self) -> None:
        url = "postgresql://babysea@127.0.0.1:1/x"
        cases = [({"url": "postgresql://u:s3cret-pw@[::1/x"}, "database.url"),
                 ({"url": "host=h s3cret-pw"}, "database.url"),
                 ({}, "database.url"),
                 ({"url": url, "schema": "no-dashes"}, "database.schema"),
                 ({"url": url, "pool_size": 0}, "database.pool_size"),
                 ({"url": url, "pool_size": 257}, "database.pool_size"),
                 ({"url": url, "synchronous_commit": "yes"}, "database.synchronous_commit"),
                 ({"url": url, "max_retries": -1}, "database.max_retries"),
                 ({"url": url, "path": "x.db"}, "database.path")]
        for database, field in cases:
            with self.subTest(field=field, database=database):
                with self.assertRaises(babysea.InvalidRequest) as cm:
                    babysea.Engine(postgres_config(self.tmp, database))
                self.assert_field(cm.exception, field)


@unittest.skipUnless(os.environ.get("BABYSEA_TEST_PG"), "needs BABYSEA_TEST_PG (capi_python_test_postgres sets it)")
class PostgresTest(unittest.TestCase):
    """An engine on a real PostgreSQL (scripts/with_postgres.sh starts one)."""

    def test_grant_balance_and_reopen(self) -> None:
        tmp = tempfile.mkdtemp(prefix="babysea-py-pg-")
        try:
            config = postgres_config(tmp, {"url": os.environ["BABYSEA_TEST_PG"], "schema": "py_%d" % os.getpid(),
                                           "pool_size": 2})
            with babysea.Engine(config) as engine:
                key = engine.issue_api_key("acct_pg", "full_access")["key"]
                engine.grant_credits("acct_pg", "2.5", key="py-pg-grant")
                engine.grant_credits("acct_pg", "2.5", key="py-pg-grant")  # replayed
                self.assertEqual(engine.balance("acct_pg")["available"], "2.5")
            with babysea.Engine(json.dumps(config)) as engine:  # durable across opens
                self.assertEqual(engine.balance("acct_pg")["available"], "2.5")
                self.assertEqual(engine.authenticate(key)["account"], "acct_pg")
                self.assertTrue(engine.audit()["clean"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class LifecycleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.mkdtemp(prefix="babysea-py-")
        cls.emulators, cls.urls = start_emulators(cls.tmp)
        cls.engine = babysea.Engine(engine_config(cls.tmp, cls.urls))
        cls.events: list[dict] = []
        cls.events_lock = threading.Lock()

        def on_event(event: dict) -> None:
            with cls.events_lock:
                cls.events.append(event)

        cls.engine.set_event_callback(on_event)
        cls.engine.create_account("acct_py")
        cls.key_info = cls.engine.issue_api_key("acct_py", "full_access", name="py test")
        cls.key = cls.key_info["key"]
        cls.engine.grant_credits("acct_py", "5", key="py-grant-1")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.engine.close()
        cls.emulators.terminate()
        cls.emulators.wait(timeout=10)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_01_identity_and_balance(self) -> None:
        who = self.engine.authenticate(self.key)
        self.assertEqual(who["account"], "acct_py")
        self.assertIn("generation:write", who["scopes"])
        self.assertEqual(self.engine.balance("acct_py")["available"], "5")
        keys = self.engine.list_api_keys("acct_py")
        self.assertIn(self.key_info["id"], [k["id"] for k in keys])
        with self.assertRaises(babysea.Unauthenticated):
            self.engine.authenticate("bye_nope")

    def test_01b_any_operation_by_name(self) -> None:
        doc = self.engine.call(self.key, "status")
        self.assertEqual(doc["status"], "success")
        self.assertEqual(doc["data"]["account_id"], "acct_py")
        models = self.engine.call(self.key, "library.models")["data"]
        self.assertEqual(models["models_total"], len(models["models"]))
        est = self.engine.call(self.key, "estimate", {"path_param": MODEL, "query": {"count": 2}})["data"]
        self.assertEqual(est["assets_count"], 2)
        with self.assertRaises(babysea.InvalidRequest) as bad:
            self.engine.call(self.key, "content.list", {"query": {"limit": "abc"}})
        self.assertEqual(bad.exception.issues[0]["field"], "limit")
        with self.assertRaises(babysea.InvalidRequest):
            self.engine.call(self.key, "no.such.operation")

    def test_02_submit_succeeds_and_settles(self) -> None:
        r = self.engine.submit(self.key, MODEL, PROMPT, "py-idem-1", type="image")
        self.assertFalse(r["replayed"])
        gid = r["data"]["generation_id"]
        again = self.engine.submit(self.key, MODEL, PROMPT, "py-idem-1")
        self.assertTrue(again["replayed"])
        self.assertEqual(again["data"]["generation_id"], gid)
        with self.assertRaises(babysea.IdempotencyConflict):
            self.engine.submit(self.key, MODEL, {"generation_prompt": "other"}, "py-idem-1")
        g = wait_for(self.engine, self.key, gid, "succeeded")
        self.assertTrue(g["generation_output_file"])
        page = self.engine.list(self.key, limit=10)
        self.assertIn(gid, [x["generation_id"] for x in page["generations"]])
        self.assertGreaterEqual(page["total"], 1)
        d = self.engine.delete(self.key, gid)
        self.assertEqual(d["generation_id"], gid)
        self.assertTrue(self.engine.get(self.key, gid).get("generation_removed"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.events_lock:
                if any(e["type"] == "generation.completed" and e["generation_id"] == gid for e in self.events):
                    break
            time.sleep(0.05)
        with self.events_lock:
            self.assertTrue(any(e["type"] == "generation.completed" and e["generation_id"] == gid
                                for e in self.events), self.events)

    def test_03_cancel(self) -> None:
        before = self.engine.balance("acct_py")["available_micros"]
        gid = self.engine.submit(self.key, MODEL, {"generation_prompt": "a storm"})["data"]["generation_id"]
        c = self.engine.cancel(self.key, gid)
        self.assertEqual(c["generation_status"], "canceled")
        self.assertTrue(c["credits_refunded"])
        self.assertEqual(self.engine.balance("acct_py")["available_micros"], before)
        with self.assertRaises(babysea.InvalidState):
            self.engine.cancel(self.key, gid)

    def test_04_errors(self) -> None:
        with self.assertRaises(babysea.InvalidRequest) as cm:
            self.engine.submit(self.key, MODEL, {"generation_prompt": "x", "generation_ratio": "7:3"})
        self.assertTrue(any(i["field"] == "generation_ratio" for i in cm.exception.issues), cm.exception.issues)
        self.assertFalse(cm.exception.retryable)
        with self.assertRaises(babysea.ModelNotFound):
            self.engine.estimate(self.key, "no/such-model")
        with self.assertRaises(babysea.NotFound):
            self.engine.get(self.key, "00000000-0000-7000-8000-000000000000")
        with self.assertRaises(babysea.InvalidRequest):
            self.engine.list(self.key, limit=0)
        poor = self.engine.issue_api_key("acct_py_poor", ["generation:write", "generation:read"])["key"]
        with self.assertRaises(babysea.InsufficientCredits) as cm2:
            self.engine.submit(poor, MODEL, PROMPT)
        self.assertEqual(cm2.exception.type, "insufficient_credits")
        with self.assertRaises(babysea.Forbidden):
            self.engine.usage(poor)
        with self.assertRaises(babysea.InvalidAmount):
            self.engine.grant_credits("acct_py", "1.0000001", key="py-bad-amount")
        with self.assertRaises(TypeError):
            self.engine.grant_credits("acct_py", 1.5)
        with self.assertRaises(babysea.InvalidSignature):
            self.engine.stripe_event("t=1,v1=00", b"{}")
        with self.assertRaises(babysea.BabyseaError):
            self.engine.provider_callback("replicate", {"webhook-id": "x"}, b"{}")

    def test_05_estimate_usage_health_metrics_audit(self) -> None:
        e = self.engine.estimate(self.key, MODEL, count=2)
        self.assertEqual(e["model_identifier"], MODEL)
        u = self.engine.usage(self.key, days=30)
        self.assertIsInstance(u, dict)
        h = self.engine.health()
        self.assertIn("healthy", h)
        self.assertIsInstance(self.engine.metrics_text(), str)
        s = self.engine.statement("acct_py")
        self.assertIn("grant", [x["kind"] for x in s["entries"]])
        self.engine.drain()
        self.assertTrue(self.engine.audit()["clean"])

    def test_06_stripe_top_up(self) -> None:
        body = json.dumps({"id": "evt_py_1", "type": "checkout.session.completed",
                           "data": {"object": {"id": "cs_py_1", "payment_status": "paid", "mode": "payment",
                                               "client_reference_id": "acct_py", "amount_total": 1000,
                                               "metadata": {"price_id": "price_10"}}}}).encode()
        t = str(int(time.time()))
        sig = hmac.new(STRIPE_SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        before = self.engine.balance("acct_py")["available_micros"]
        r = self.engine.stripe_event(f"t={t},v1={sig}", body)
        self.assertEqual(r["effect"], "granted", r)
        self.assertEqual(self.engine.balance("acct_py")["available_micros"], before + 10_000_000)
        self.assertEqual(self.engine.stripe_event(f"t={t},v1={sig}", body)["effect"], "duplicate")

    def test_07_threads(self) -> None:
        failures: list[BaseException] = []

        def worker() -> None:
            try:
                for _ in range(20):
                    self.engine.balance("acct_py")
                    self.engine.list(self.key, limit=5)
            except BaseException as e:  # pragma: no cover - reported below
                failures.append(e)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])

    def test_08_event_queue(self) -> None:
        self.engine.subscribe_events(16)
        self.assertEqual(self.engine.next_events(0)["events"], [])
        gid = self.engine.submit(self.key, MODEL, {"generation_prompt": "queued"})["data"]["generation_id"]
        self.engine.cancel(self.key, gid)
        got: list[dict] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(e["type"] == "generation.canceled" for e in got):
            got += self.engine.next_events(500)["events"]
        self.assertTrue(any(e["type"] == "generation.canceled" and e["generation_id"] == gid for e in got), got)
        self.engine.unsubscribe_events()
        with self.assertRaises(babysea.Unavailable):
            self.engine.next_events(0)

    def test_10_webhook_endpoints(self) -> None:
        ep = self.engine.create_webhook_endpoint("acct_py", self.urls["replicate"] + "/hook",
                                                 events=["generation.completed"])
        self.assertTrue(ep["secret"])
        self.assertEqual(ep["events"], ["generation.completed"])
        self.assertIn(ep["id"], [x["id"] for x in self.engine.list_webhook_endpoints("acct_py")])
        self.assertTrue(self.engine.test_webhook_endpoint("acct_py", ep["id"])["delivery_id"])
        self.engine.set_webhook_endpoint_enabled("acct_py", ep["id"], False)
        listed = {x["id"]: x for x in self.engine.list_webhook_endpoints("acct_py")}
        self.assertFalse(listed[ep["id"]]["enabled"])
        with self.assertRaises(babysea.InvalidRequest):
            self.engine.create_webhook_endpoint("acct_py", "")
        with self.assertRaises(babysea.NotFound):
            self.engine.set_webhook_endpoint_enabled("acct_other", ep["id"], True)

    def test_09_revoke(self) -> None:
        extra = self.engine.issue_api_key("acct_py", "read_only")
        self.assertEqual(self.engine.authenticate(extra["key"])["account"], "acct_py")
        self.engine.revoke_api_key("acct_py", extra["id"])
        with self.assertRaises(babysea.Unauthenticated):
            self.engine.get(extra["key"], "x")
        with self.assertRaises(babysea.NotFound):
            self.engine.revoke_api_key("acct_py", "no_such_key")


class CloseTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="babysea-py-close-")
        self.config = {
            "api_key_pepper": "python-test-pepper-0123456789abcdef0123",
            "database": {"engine": "memory"},
            "assets": {"directory": os.path.join(self.tmp, "assets"), "public_base_url": "https://a.example/f"},
            "webhooks": {"enabled": False},
        }

    def tearDown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_close_twice_and_use_after_close(self) -> None:
        engine = babysea.Engine(self.config)
        calls: list[dict] = []
        engine.set_event_callback(calls.append)
        engine.close()
        engine.close()
        self.assertTrue(engine.closed)
        with self.assertRaises(babysea.EngineClosed):
            engine.balance("acct")
        with self.assertRaises(babysea.Unavailable):
            engine.health()

    def test_context_manager_and_callback_release(self) -> None:
        from babysea import engine as engine_module
        with babysea.Engine(json.dumps(self.config)) as engine:
            engine.set_event_callback(lambda e: None)
            engine.set_event_callback(lambda e: None)  # the first one is released now
            self.assertEqual(len(engine_module._live_callbacks), 1)
            engine.set_event_callback(None)
            self.assertEqual(len(engine_module._live_callbacks), 0)
            engine.set_event_callback(lambda e: 1 / 0)  # raising callbacks are contained
            self.assertIsInstance(engine.health(), dict)
        self.assertTrue(engine.closed)
        self.assertEqual(len(engine_module._live_callbacks), 0)

    def test_close_while_waiting_for_events(self) -> None:
        engine = babysea.Engine(self.config)
        engine.subscribe_events(4)
        result: list[object] = []

        def waiter() -> None:
            try:
                result.append(engine.next_events(30_000))
            except babysea.BabyseaError as e:
                result.append(e)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.2)
        started = time.monotonic()
        engine.close()
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertLess(time.monotonic() - started, 10)
        self.assertIsInstance(result[0], babysea.Unavailable)


if __name__ == "__main__":
    unittest.main()
