#!/usr/bin/env python3
"""The babysea end-to-end demo (run by scripts/demo.sh after the build).

Starts the provider emulators and the reference server (SQLite in a temp
dir, or with --postgres the PostgreSQL BABYSEA_TEST_PG names), creates an account and an API key, tops up through a signed Stripe
event, then runs a scenario over the public API: an image on a webhook
provider with live progress, a video on a queue provider, an image whose
first provider is down (failover), a synchronous provider, a cancel, an
idempotent replay, a customer webhook received and verified, and finally the
account statement, provider usage and the ledger audit. Prints one verdict
line, then the playground's URL (/playground/ on the server) and the demo's API
key to paste into it; in a terminal the servers keep running until Enter or
Ctrl-C. Exits non-zero if anything is off.

Usage: demo.py <build dir> [--postgres | --cluster]   (standard library only)
  --postgres: database.engine "postgres" with url = $BABYSEA_TEST_PG (a libpq
  conninfo; scripts/with_postgres.sh starts a server and sets it, as
  scripts/demo.sh --postgres does).
  --cluster: three servers (instance ids s1, s2, s3) on that one PostgreSQL
  schema and the Redis $BABYSEA_TEST_REDIS names (scripts/with_redis.sh sets
  it; scripts/demo.sh --cluster nests both); each server's provider callbacks
  go to the next server, and the client spreads its calls over the three
  (round robin).
"""
import hashlib
import hmac
import http.server
import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ARGS = [a for a in sys.argv[1:] if a not in ("--postgres", "--cluster")]
CLUSTER = "--cluster" in sys.argv[1:]
POSTGRES = "--postgres" in sys.argv[1:] or CLUSTER
BUILD = os.path.abspath(ARGS[0] if ARGS else "build")
SERVER = os.path.join(BUILD, "examples", "server", "babysea-server")
ADMIN = os.path.join(BUILD, "examples", "server", "babysea-admin")
EMULATORS = os.path.join(BUILD, "tests", "emulators", "babysea-emulators")
STRIPE_SECRET = "whsec_demo_stripe_endpoint_secret"
HOOK_SECRET = "whsec_demo_customer_hook_secret"
CF_ACCOUNT = "0123456789abcdef0123456789abcdef"  # a Cloudflare account id (32 hex digits)

failures = []
procs = []


def say(text=""):
    print(text, flush=True)


def check(ok, what):
    say(("  ok    " if ok else "  FAIL  ") + what)
    if not ok:
        failures.append(what)
    return ok


def start(cmd, cfg_path):
    p = subprocess.Popen(cmd + ["--config", cfg_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(p)
    line = p.stdout.readline()
    if not line:
        raise SystemExit("%s did not start: %s" % (cmd[0], p.stderr.read()))
    return json.loads(line)


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Api:
    """The public API over one base URL, or several (a cluster) in turn."""

    def __init__(self, bases, key):
        self.bases, self.key, self.turn = list(bases), key, 0

    def next_base(self):
        base = self.bases[self.turn % len(self.bases)]
        self.turn += 1
        return base

    def call(self, method, path, body=None, headers=None):
        h = {"Authorization": "Bearer " + self.key}
        h.update(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        req = urllib.request.Request(self.next_base() + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), json.loads(e.read() or b"{}")

    def wait(self, gen_id, label, timeout=90):
        last = None
        deadline = time.time() + timeout
        while time.time() < deadline:
            _, _, doc = self.call("GET", "/v1/content/" + gen_id)
            g = doc.get("data", {})
            st = g.get("generation_status")
            if st != last:
                say("    %-28s %s" % (label, st))
                last = st
            if st in ("succeeded", "failed", "canceled"):
                return g
            time.sleep(0.25)
        return {"generation_status": "timeout"}


def admin(cfg_path, *args):
    out = subprocess.run([ADMIN, "--config", cfg_path] + list(args), capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("babysea-admin %s failed: %s %s" % (args[0], out.stdout, out.stderr))
    return json.loads(out.stdout)["data"]


class HookReceiver(http.server.BaseHTTPRequestHandler):
    events = []
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        sig = self.headers.get("X-BabySea-Signature", "")
        parts = dict(p.split("=", 1) for p in sig.split(",") if "=" in p)
        t, v1 = parts.get("t", ""), parts.get("v1", "")
        expected = hmac.new(HOOK_SECRET.encode(), (t + ".").encode() + body, hashlib.sha256).hexdigest()
        fresh = t.isdigit() and abs(time.time() - int(t)) <= 300
        verified = bool(v1) and hmac.compare_digest(expected, v1) and fresh
        self.send_response(200 if verified else 400)
        self.end_headers()
        self.wfile.write(b"OK" if verified else b"bad signature")
        with self.lock:
            HookReceiver.events.append((verified, json.loads(body)))

    def log_message(self, *args):
        pass


def main():
    for path in (SERVER, ADMIN, EMULATORS):
        if not os.path.exists(path):
            raise SystemExit("missing %s (build first)" % path)
    if POSTGRES and not os.environ.get("BABYSEA_TEST_PG"):
        raise SystemExit("--postgres/--cluster need BABYSEA_TEST_PG (run through scripts/with_postgres.sh)")
    if CLUSTER and not os.environ.get("BABYSEA_TEST_REDIS"):
        raise SystemExit("--cluster needs BABYSEA_TEST_REDIS (run through scripts/with_redis.sh)")
    tmp = tempfile.mkdtemp(prefix="babysea-demo-")
    try:
        base, key = run(tmp)
        verdict()
        say("\n== playground: open %s/playground/ in a browser and paste the API key %s" % (base, key))
        if sys.stdin.isatty():
            say("   (the servers keep running until you press Enter or Ctrl-C)")
            try:
                input()
            except (EOFError, KeyboardInterrupt):
                pass
        else:
            say("   (not a terminal, so the servers stop now; run scripts/demo.sh in a terminal to try it)")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures else 0


def verdict():
    if failures:
        say("\nVERDICT: FAIL (%d problem%s: %s)" % (len(failures), "" if len(failures) == 1 else "s", "; ".join(failures)))
    else:
        say("\nVERDICT: OK: every generation reached the right end state, credits settled exactly once, ledger audit clean")


def run(tmp):
    say("== 1. provider emulators (replicate, fal, openai, alibabacloud, byteplus, cloudflare) on loopback")
    emu_cfg = os.path.join(tmp, "emulators.json")
    timing = {"queued_ms": 400, "running_ms": 1200}
    with open(emu_cfg, "w") as f:
        json.dump({"replicate": dict(api_key="r8_demo", **timing), "fal": dict(api_key="fal_demo", **timing),
                   "openai": {"api_key": "sk-demo", "latency_ms": 300},
                   "alibabacloud": dict(api_key="sk-dashscope-demo", **timing),
                   "byteplus": dict(api_key="ark-demo", **timing),
                   "cloudflare": {"api_key": "cf-demo", "account_id": CF_ACCOUNT, "latency_ms": 300}}, f)
    emu = start([EMULATORS], emu_cfg)
    say("   replicate %s   fal %s   openai %s" % (emu["replicate"], emu["fal"], emu["openai"]))
    say("   alibabacloud %s   byteplus %s   cloudflare %s" % (emu["alibabacloud"], emu["byteplus"], emu["cloudflare"]))

    hooks = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HookReceiver)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    hook_url = "http://127.0.0.1:%d/hook" % hooks.server_address[1]

    if POSTGRES:
        database = {"engine": "postgres", "url": os.environ["BABYSEA_TEST_PG"], "schema": "babysea_demo"}
        where = "PostgreSQL, schema babysea_demo"
        if CLUSTER:
            where = "three instances on PostgreSQL schema babysea_demo and Redis %s" % os.environ["BABYSEA_TEST_REDIS"]
    else:
        database = {"engine": "sqlite", "path": os.path.join(tmp, "babysea.db")}
        where = "SQLite in %s" % tmp
    say("== 2. reference server%s (%s); BFL is configured on a dead port" % ("s" if CLUSTER else "", where))
    cfg_path = os.path.join(tmp, "server.json")
    cfg = {
        "region": "us",
        "api_key_pepper": "demo-pepper-0123456789abcdef0123456789abcdef",
        "callback_base_url": "http://127.0.0.1:{port}/v1/callbacks",
        "database": database,
        "assets": {"directory": os.path.join(tmp, "assets"), "public_base_url": "http://127.0.0.1:{port}/assets"},
        "providers": {
            "replicate": {"base_url": emu["replicate"], "api_token": "r8_demo",
                          "webhook_secrets": [emu["replicate_webhook_secret"]]},
            "fal": {"base_url": emu["fal"], "api_key": "fal_demo", "jwks_url": emu["fal_jwks_url"],
                    "user_id": emu["fal_user_id"]},
            "openai": {"base_url": emu["openai"], "api_key": "sk-demo"},
            "alibabacloud": {"base_url": emu["alibabacloud"], "api_key": "sk-dashscope-demo"},
            "byteplus": {"base_url": emu["byteplus"], "api_key": "ark-demo"},
            "cloudflare": {"base_url": emu["cloudflare"], "account_id": CF_ACCOUNT, "api_token": "cf-demo"},
            "bfl": {"base_url": "http://127.0.0.1:%d" % closed_port(), "api_key": "bfl_demo"},
        },
        "stripe": {"endpoint_secrets": [STRIPE_SECRET],
                   "packs": [{"price_id": "price_demo_10", "credits": "10", "amount_cents": 1000}]},
        "webhooks": {"enabled": True, "idle_poll_ms": 100},
        "net_guard": {"allow_loopback": True, "allow_any_port": True},
        "engine": {"threads": 4, "tick_ms": 100, "retry_delay_ms": 500},
        "server": {"host": "127.0.0.1", "port": 0, "create_wait_ms": 5000},
    }
    if CLUSTER:
        # Fixed ports up front: each server's provider callbacks go to the
        # next one, so a callback mostly lands on another instance than the
        # one that submitted the job.
        ports = [closed_port() for _ in range(3)]
        bases = []
        for i, port in enumerate(ports):
            c = copy.deepcopy(cfg)
            c["server"]["port"] = port
            c["callback_base_url"] = "http://127.0.0.1:%d/v1/callbacks" % ports[(i + 1) % 3]
            c["cluster"] = {"instance_id": "s%d" % (i + 1), "heartbeat_ms": 500, "instance_ttl_ms": 5000}
            c["cache"] = {"url": os.environ["BABYSEA_TEST_REDIS"], "key_prefix": "babysea_demo"}
            path = os.path.join(tmp, "server-s%d.json" % (i + 1))
            with open(path, "w") as f:
                json.dump(c, f, indent=2)
            srv = start([SERVER], path)
            bases.append(srv["base_url"])
            say("   s%d listening on %s, its provider callbacks go to s%d" % (i + 1, srv["base_url"], (i + 1) % 3 + 1))
            if i == 0:
                cfg_path = path  # the admin CLI reads s1's file
        base = bases[0]
    else:
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)
        srv = start([SERVER], cfg_path)
        base = srv["base_url"]
        bases = [base]
        cfg["server"]["port"] = srv["port"]  # the admin CLI reads the same file
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)
        say("   listening on " + base)

    say("== 3. account, API key, customer webhook endpoint (babysea-admin)")
    admin(cfg_path, "account-create", "acct_demo")
    key = admin(cfg_path, "key-create", "acct_demo", "--name", "demo")["key"]
    admin(cfg_path, "webhook-create", "acct_demo", hook_url, "--secret", HOOK_SECRET)
    say("   key %s...  webhook -> %s" % (key[:12], hook_url))
    api = Api(bases, key)

    say("== 4. top-up through a signed Stripe checkout.session.completed")
    event = json.dumps({"id": "evt_demo_1", "object": "event", "type": "checkout.session.completed",
                        "data": {"object": {"id": "cs_demo_1", "object": "checkout.session", "mode": "payment",
                                            "payment_status": "paid", "payment_intent": "pi_demo_1",
                                            "amount_total": 1000, "currency": "usd",
                                            "client_reference_id": "acct_demo",
                                            "metadata": {"price_id": "price_demo_10"}}}})
    t = str(int(time.time()))
    sig = hmac.new(STRIPE_SECRET.encode(), (t + "." + event).encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request(base + "/v1/webhooks/stripe", data=event.encode(), method="POST",
                                 headers={"Stripe-Signature": "t=%s,v1=%s" % (t, sig),
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        check(r.status == 200, "Stripe event accepted (HTTP %d)" % r.status)
    bal = admin(cfg_path, "balance", "acct_demo")
    check(bal["available_micros"] == 10_000_000, "balance is 10 credits (%s)" % bal["available"])

    say("== 5. image on replicate (webhooks), with live progress")
    body = {"generation_prompt": "a lighthouse at dawn, volumetric light", "generation_ratio": "16:9"}
    st, hdr, doc = api.call("POST", "/v1/generate/image/bfl/flux-schnell", body, {"Idempotency-Key": "demo:image-1"})
    check(st == 200 and doc.get("status") == "success", "generate accepted (HTTP %d)" % st)
    first = doc["data"]
    say("    generation %s  order %s  prediction %s" % (first["generation_id"], first["generation_provider_order"],
                                                        first.get("generation_prediction_id")))
    g1 = api.wait(first["generation_id"], "flux-schnell")
    check(g1["generation_status"] == "succeeded", "image succeeded on %s" % g1.get("generation_provider_used"))
    outputs = g1.get("generation_output_file") or []
    if check(len(outputs) == 1 and any(outputs[0].startswith(b + "/assets/") for b in bases),
             "output copied into babysea's asset store"):
        with urllib.request.urlopen(outputs[0], timeout=10) as r:
            check(r.read(8) == b"\x89PNG\r\n\x1a\n", "asset served: " + outputs[0])

    say("== 6. idempotent replay of the same request")
    st, hdr, doc = api.call("POST", "/v1/generate/image/bfl/flux-schnell", body, {"Idempotency-Key": "demo:image-1"})
    replayed = {k.lower(): v for k, v in hdr.items()}.get("idempotency-replayed")
    check(st == 200 and replayed == "true" and doc["data"]["generation_id"] == first["generation_id"],
          "same generation returned, Idempotency-Replayed: %s" % replayed)
    st, _, doc = api.call("POST", "/v1/generate/image/bfl/flux-schnell", dict(body, generation_prompt="another"),
                          {"Idempotency-Key": "demo:image-1"})
    check(st == 422 and doc["error"]["code"] == "BSE2015", "same key, different body refused (%s)" % doc["error"]["code"])

    say("== 7. failover: flux-dev prefers BFL, which is down")
    st, _, doc = api.call("POST", "/v1/generate/image/bfl/flux-dev", {"generation_prompt": "a red fox in snow"})
    check(st == 200, "generate accepted (order %s)" % doc.get("data", {}).get("generation_provider_order"))
    g2 = api.wait(doc["data"]["generation_id"], "flux-dev")
    check(g2["generation_status"] == "succeeded" and g2.get("generation_provider_used") in ("replicate", "fal"),
          "failed over from bfl to %s" % g2.get("generation_provider_used"))

    say("== 8. video on fal (queue + Ed25519 callbacks)")
    st, _, doc = api.call("POST", "/v1/generate/video/google/veo-3-fast",
                          {"generation_prompt": "waves rolling onto a beach", "generation_duration": 8})
    check(st == 200, "video accepted (HTTP %d)" % st)
    g3 = api.wait(doc["data"]["generation_id"], "veo-3-fast")
    check(g3["generation_status"] == "succeeded", "video succeeded on %s" % g3.get("generation_provider_used"))

    say("== 9. synchronous provider (OpenAI images)")
    st, _, doc = api.call("POST", "/v1/generate/image/openai/gpt-image-1", {"generation_prompt": "a teapot"})
    g4 = api.wait(doc["data"]["generation_id"], "gpt-image-1")
    check(g4["generation_status"] == "succeeded", "synchronous image succeeded on %s" % g4.get("generation_provider_used"))

    say("== 9b. one generation on each of Alibaba Cloud, BytePlus and Cloudflare")
    for model, order, how in (("alibaba/wan-2.2-t2i-flash", "alibabacloud", "DashScope async task, polled"),
                              ("bytedance/seedream-4", "byteplus", "ModelArk, answered at once"),
                              ("stability/sdxl", "cloudflare", "Workers AI, raw image bytes")):
        st, _, doc = api.call("POST", "/v1/generate/image/" + model,
                              {"generation_prompt": "a paper boat on a pond", "generation_provider_order": order})
        check(st == 200, "%s accepted on %s (HTTP %d)" % (model, order, st))
        g = api.wait(doc["data"]["generation_id"], model)
        outputs = g.get("generation_output_file") or []
        check(g["generation_status"] == "succeeded" and g.get("generation_provider_used") == order and len(outputs) >= 1,
              "%s succeeded on %s (%s), %d file(s) in the asset store" % (model, order, how, len(outputs)))

    say("== 10. cancel while the provider is still working")
    st, _, doc = api.call("POST", "/v1/generate/image/bfl/flux-schnell", {"generation_prompt": "never mind"})
    gid = doc["data"]["generation_id"]
    st, _, c = api.call("POST", "/v1/content/generation/cancel/" + gid)
    check(st == 200 and c["data"].get("credits_refunded") is True,
          "canceled, credits refunded, provider cancel sent: %s" % c.get("data", {}).get("provider_cancel_sent"))
    time.sleep(2.5)  # the provider would have finished by now: its result must be discarded
    _, _, doc = api.call("GET", "/v1/content/" + gid)
    check(doc["data"]["generation_status"] == "canceled", "still canceled after the provider's late result")

    say("== 11. customer webhooks, verified with the endpoint secret")
    deadline = time.time() + 20
    want = {("generation.completed", first["generation_id"]), ("generation.canceled", gid)}
    while time.time() < deadline:
        with HookReceiver.lock:
            got = {(e["webhook_event"], e["webhook_data"].get("generation_id")) for ok, e in HookReceiver.events if ok}
        if want <= got:
            break
        time.sleep(0.2)
    with HookReceiver.lock:
        events = list(HookReceiver.events)
    check(all(ok for ok, _ in events) and len(events) > 0, "%d webhook deliveries, every signature verified" % len(events))
    check(want <= got, "generation.completed and generation.canceled received")

    say("== 12. statement, provider usage, audit")
    stmt = admin(cfg_path, "statement", "acct_demo")
    say("    %-4s %-8s %14s %14s  %s" % ("seq", "kind", "balance delta", "held delta", "generation / reference"))
    for e in stmt.get("entries", []):
        say("    %-4d %-8s %14.6f %14.6f  %s" % (e["id"], e["kind"], e["delta_micros"] / 1e6,
                                              e["pending_delta_micros"] / 1e6, e["ref"]))
    _, _, usage = api.call("GET", "/v1/usage?days=30")
    for p in usage.get("data", {}).get("usage_providers", []):
        say("    %-10s submissions %d  used %d  failed %d  cancelled %d  discarded %d" % (
            p["provider"], p["total_submissions"], p["used_count"], p["failed_count"], p["cancelled_count"],
            p["discarded_count"]))
    bal = admin(cfg_path, "balance", "acct_demo")
    spent = 10_000_000 - bal["available_micros"]
    # flux-schnell 0.003 + flux-dev 0.025 + veo-3-fast 8 s x 0.1 + gpt-image-1 0.07 + wan-2.2-t2i-flash 0.025
    # + seedream-4 0.03 + sdxl 0.004 (cancel refunded)
    expected = 3_000 + 25_000 + 800_000 + 70_000 + 25_000 + 30_000 + 4_000
    check(spent == expected, "charged %d micro-credits for 7 successes, nothing for the cancel (expected %d)" % (spent, expected))
    audit = admin(cfg_path, "audit")
    check(audit.get("clean") is True, "ledger audit clean")
    return base, key


if __name__ == "__main__":
    sys.exit(main())
