"""The Engine: one babysea deployment behind the C ABI.

Thread safety: an Engine may be used from many threads at once. close() waits
for calls in flight, refuses new ones (EngineClosed), and is idempotent.
The event callback runs on engine worker threads.
"""

from __future__ import annotations

import atexit
import ctypes
import decimal
import json
import sys
import threading
import traceback
import weakref
from typing import Any, Callable, Mapping, Sequence

from . import _ffi
from ._ffi import lib
from .errors import BabyseaError, EngineClosed, error_from

EventCallback = Callable[[dict], None]

# Callback trampolines kept alive until the C side calls destroy for them.
_live_callbacks: dict[int, Any] = {}
_live_lock = threading.Lock()
_next_token = [1]


def _on_destroy(user_data: int | None) -> None:
    with _live_lock:
        _live_callbacks.pop(int(user_data or 0), None)


_DESTROY = _ffi.DESTROY_FN(_on_destroy)  # module lifetime


def _b(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8")


def _json_arg(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _credits(amount: Any) -> bytes:
    if isinstance(amount, bool) or isinstance(amount, float):
        raise TypeError("credit amounts are decimal strings, int or decimal.Decimal, never float")
    if isinstance(amount, (int, decimal.Decimal)):
        return format(amount, "f").encode()
    if isinstance(amount, str):
        return amount.encode()
    raise TypeError("credit amounts are decimal strings, int or decimal.Decimal")


_engines: "weakref.WeakSet[Engine]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    # Engine workers must not call into an interpreter that is finalizing.
    for engine in list(_engines):
        try:
            engine.close()
        except Exception:  # pragma: no cover - best effort at exit
            pass


class Engine:
    """A babysea engine built from one JSON configuration (dict or str)."""

    def __init__(self, config: Mapping[str, Any] | str):
        self._handle = ctypes.c_void_p()
        self._cond = threading.Condition()
        self._active = 0
        self._closed = False
        text = config if isinstance(config, str) else json.dumps(config)
        rc = lib.babysea_engine_create(text.encode("utf-8"), ctypes.byref(self._handle))
        if rc != 0:
            doc_text = (lib.babysea_engine_last_error_json(None) or b"").decode("utf-8", "replace")
            msg = (lib.babysea_engine_last_error(None) or b"").decode("utf-8", "replace")
            self._handle = ctypes.c_void_p()
            self._closed = True
            raise error_from(rc, json.loads(doc_text) if doc_text else None, msg)
        _engines.add(self)

    # --- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Stops the engine (durable state is kept). Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            handle = self._handle
        if handle:
            lib.babysea_events_unsubscribe(handle)  # wakes a next_events() waiter
        with self._cond:
            while self._active:
                self._cond.wait()
            self._handle = ctypes.c_void_p()
        if handle:
            lib.babysea_engine_destroy(handle)  # releases the GIL; workers may finish callbacks
        _engines.discard(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # --- plumbing -----------------------------------------------------------

    def _enter(self) -> ctypes.c_void_p:
        with self._cond:
            if self._closed:
                raise EngineClosed("the engine is closed", code=17, type="unavailable")
            self._active += 1
            return self._handle

    def _leave(self) -> None:
        with self._cond:
            self._active -= 1
            if self._active == 0:
                self._cond.notify_all()

    def _call_raw(self, name: str, *args: Any) -> str | None:
        fn = getattr(lib, name)
        handle = self._enter()
        try:
            out = ctypes.c_void_p()
            rc = fn(handle, *args, ctypes.byref(out))
            text = _ffi.take_string(out.value)
        finally:
            self._leave()
        if rc != 0:
            doc = None
            if text:
                try:
                    doc = json.loads(text)
                except ValueError:
                    doc = None
            raise error_from(rc, doc)
        return text

    def _call(self, name: str, *args: Any) -> Any:
        text = self._call_raw(name, *args)
        return json.loads(text) if text else None

    def _data(self, name: str, *args: Any) -> Any:
        """The `data` of a service document ({"status":"success",...,"data":{...}})."""
        doc = self._call(name, *args)
        return doc.get("data") if isinstance(doc, dict) else None

    def _status(self, name: str, *args: Any) -> None:
        handle = self._enter()
        try:
            rc = getattr(lib, name)(handle, *args)
            if rc != 0:
                doc_text = (lib.babysea_engine_last_error_json(handle) or b"").decode("utf-8", "replace")
        finally:
            self._leave()
        if rc != 0:
            raise error_from(rc, json.loads(doc_text) if doc_text else None)

    # --- events -------------------------------------------------------------

    def set_event_callback(self, callback: EventCallback | None) -> None:
        """Calls `callback(event: dict)` for each lifecycle event, on engine
        threads. Exceptions it raises are printed and swallowed. None removes it."""
        if callback is None:
            self._status("babysea_engine_set_event_callback", _ffi.EVENT_FN(), None, _ffi.DESTROY_FN())
            return

        def trampoline(event_json: bytes | None, _user: int | None) -> None:
            try:
                callback(json.loads(event_json.decode("utf-8")) if event_json else {})
            except BaseException:  # never unwind into C
                try:
                    traceback.print_exc(file=sys.stderr)
                except BaseException:
                    pass

        fn = _ffi.EVENT_FN(trampoline)
        with _live_lock:
            token = _next_token[0]
            _next_token[0] += 1
            _live_callbacks[token] = fn
        # On failure the C side has already called destroy (dropping `fn`).
        self._status("babysea_engine_set_event_callback", fn, ctypes.c_void_p(token), _DESTROY)

    def subscribe_events(self, capacity: int = 1024) -> None:
        """Starts queueing events for next_events()."""
        self._status("babysea_events_subscribe", ctypes.c_size_t(capacity))

    def next_events(self, timeout_ms: int = 0) -> dict:
        """{"events": [...], "dropped": N}; waits up to timeout_ms for some."""
        return self._call("babysea_events_next", ctypes.c_int64(timeout_ms))

    def unsubscribe_events(self) -> None:
        self._status("babysea_events_unsubscribe")

    # --- customer calls (API key) ------------------------------------------

    def authenticate(self, api_key: str) -> dict:
        return self._data("babysea_authenticate", _b(api_key))

    def submit(self, api_key: str, model: str, params: Mapping[str, Any] | str,
               idempotency_key: str | None = None, *, type: str | None = None,
               wait_for_ack_ms: int | None = None) -> dict:
        options: dict[str, Any] = {}
        if type is not None:
            options["type"] = type
        if wait_for_ack_ms is not None:
            options["wait_for_ack_ms"] = wait_for_ack_ms
        doc = self._call("babysea_generation_submit", _b(api_key), _b(model), _json_arg(params),
                         _b(idempotency_key), _json_arg(options) if options else None)
        # A replay is told by the document's message (the REST API's Idempotency-Replayed).
        return {"replayed": doc.get("message") == "Generation replayed", "data": doc.get("data")}

    def get(self, api_key: str, generation_id: str) -> dict:
        return self._data("babysea_generation_get", _b(api_key), _b(generation_id))

    def list(self, api_key: str, limit: int = 50, offset: int = 0) -> dict:
        doc = self._call("babysea_generation_list", _b(api_key), ctypes.c_int64(limit), ctypes.c_int64(offset))
        return {**doc["data"], "total": doc["total"], "limit": doc["limit"], "offset": doc["offset"]}

    def call(self, api_key: str, operation: str, args: Mapping[str, Any] | None = None) -> dict:
        """Any API operation by name ("status", "library.models", ...): the whole
        document ({status, request_id, message, timestamp, data}) as the REST API answers it."""
        return self._call("babysea_api_call", _b(api_key), _b(operation), _json_arg(args) if args else None)

    def cancel(self, api_key: str, generation_id: str) -> dict:
        return self._data("babysea_generation_cancel", _b(api_key), _b(generation_id))

    def delete(self, api_key: str, generation_id: str) -> dict:
        return self._data("babysea_generation_delete", _b(api_key), _b(generation_id))

    def estimate(self, api_key: str, model: str, *, count: int | None = None, duration: int | None = None,
                 resolution: str | None = None, audio: bool | None = None) -> dict:
        params = {k: v for k, v in (("count", count), ("duration", duration), ("resolution", resolution),
                                    ("audio", audio)) if v is not None}
        return self._data("babysea_estimate", _b(api_key), _b(model), _json_arg(params) if params else None)

    def usage(self, api_key: str, days: int = 30) -> dict:
        return self._data("babysea_usage", _b(api_key), ctypes.c_int64(days))

    # --- inbound deliveries ------------------------------------------------

    def provider_callback(self, provider: str, headers: Mapping[str, str] | Sequence[Sequence[str]],
                          body: bytes) -> dict:
        hdrs = dict(headers) if isinstance(headers, Mapping) else [list(h) for h in headers]
        return self._data("babysea_provider_callback", _b(provider), _json_arg(hdrs), bytes(body),
                          ctypes.c_size_t(len(body)))

    def stripe_event(self, signature_header: str, body: bytes) -> dict:
        return self._data("babysea_stripe_event", _b(signature_header), bytes(body), ctypes.c_size_t(len(body)))

    # --- administration (host only) ----------------------------------------

    def create_account(self, account: str) -> dict:
        return self._data("babysea_account_create", _b(account))

    def issue_api_key(self, account: str, scopes: str | Sequence[str] = "full_access", name: str = "",
                      expires_ms: int = 0) -> dict:
        request = {"scopes": scopes if isinstance(scopes, str) else list(scopes), "name": name,
                   "expires_ms": expires_ms}
        return self._data("babysea_api_key_issue", _b(account), _json_arg(request))

    def list_api_keys(self, account: str) -> list[dict]:
        return self._data("babysea_api_key_list", _b(account))["keys"]

    def revoke_api_key(self, account: str, key_id: str) -> dict:
        return self._data("babysea_api_key_revoke", _b(account), _b(key_id))

    def grant_credits(self, account: str, amount: str | int | decimal.Decimal, key: str | None = None) -> dict:
        return self._data("babysea_credits_grant", _b(account), _credits(amount), _b(key))

    def balance(self, account: str) -> dict:
        return self._data("babysea_credits_balance", _b(account))

    def statement(self, account: str, limit: int = 100) -> dict:
        return self._data("babysea_credits_statement", _b(account), ctypes.c_int64(limit))

    def create_webhook_endpoint(self, account: str, url: str, *, secret: str = "", signing: str = "babysea",
                                events: Sequence[str] = ()) -> dict:
        spec = {"url": url, "secret": secret, "signing": signing, "events": list(events)}
        return self._data("babysea_webhook_endpoint_create", _b(account), _json_arg(spec))

    def list_webhook_endpoints(self, account: str) -> list[dict]:
        return self._data("babysea_webhook_endpoint_list", _b(account))["endpoints"]

    def set_webhook_endpoint_enabled(self, account: str, endpoint_id: str, enabled: bool) -> dict:
        return self._data("babysea_webhook_endpoint_set_enabled", _b(account), _b(endpoint_id),
                          ctypes.c_int(1 if enabled else 0))

    def test_webhook_endpoint(self, account: str, endpoint_id: str) -> dict:
        return self._data("babysea_webhook_endpoint_test", _b(account), _b(endpoint_id))

    def audit(self) -> dict:
        return self._data("babysea_ledger_audit")

    # --- operations --------------------------------------------------------

    def health(self) -> dict:
        return self._data("babysea_health")

    def metrics_text(self) -> str:
        return self._call_raw("babysea_metrics_text") or ""

    def run_due(self) -> int:
        steps = ctypes.c_int64(0)
        self._status("babysea_engine_run_due", ctypes.byref(steps))
        return steps.value

    def drain(self) -> None:
        self._status("babysea_engine_drain")


__all__ = ["Engine", "BabyseaError"]
