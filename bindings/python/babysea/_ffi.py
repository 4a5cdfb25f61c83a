"""Loading libbabysea.so and declaring every C function's prototype.

The library is found, in order, at $BABYSEA_LIBRARY, next to these modules
(the copy an installed wheel carries), in a build tree of the source checkout
this package lives in (build*/libbabysea.so, newest first), or through the
system loader (a `cmake --install`ed library). Every function gets argtypes and restype, so no call
goes through ctypes' defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.abspath(os.path.join(_HERE, "..", "..", ".."))


def _candidates() -> list[str]:
    env = os.environ.get("BABYSEA_LIBRARY")
    if env:
        return [env]
    found = glob.glob(os.path.join(_REPO, "build*", "libbabysea.so"))
    found.sort(key=lambda p: os.path.getmtime(p), reverse=True)
    packaged = os.path.join(_HERE, "libbabysea.so")
    if os.path.isfile(packaged):
        found.insert(0, packaged)
    system = ctypes.util.find_library("babysea")
    if system:
        found.append(system)
    return found


def _load() -> ctypes.CDLL:
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:  # try the next one
            errors.append(f"{path}: {e}")
    raise ImportError(
        "cannot load libbabysea.so (set BABYSEA_LIBRARY to its path)"
        + ("; tried " + "; ".join(errors) if errors else "")
    )


lib = _load()

c_int, c_int64, c_size_t = ctypes.c_int, ctypes.c_int64, ctypes.c_size_t
c_char_p, c_void_p = ctypes.c_char_p, ctypes.c_void_p
OUT = ctypes.POINTER(ctypes.c_void_p)  # char** out, read as a raw pointer and freed

EVENT_FN = ctypes.CFUNCTYPE(None, c_char_p, c_void_p)
DESTROY_FN = ctypes.CFUNCTYPE(None, c_void_p)


def _proto(name: str, restype, *argtypes) -> None:
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)


_proto("babysea_version", c_char_p)
_proto("babysea_version_number", c_int)
_proto("babysea_error_name", c_char_p, c_int)
_proto("babysea_free", None, c_void_p)
_proto("babysea_engine_create", c_int, c_char_p, ctypes.POINTER(c_void_p))
_proto("babysea_engine_destroy", None, c_void_p)
_proto("babysea_engine_last_error", c_char_p, c_void_p)
_proto("babysea_engine_last_error_code", c_int, c_void_p)
_proto("babysea_engine_last_error_json", c_char_p, c_void_p)
_proto("babysea_engine_set_event_callback", c_int, c_void_p, EVENT_FN, c_void_p, DESTROY_FN)
_proto("babysea_events_subscribe", c_int, c_void_p, c_size_t)
_proto("babysea_events_next", c_int, c_void_p, c_int64, OUT)
_proto("babysea_events_unsubscribe", c_int, c_void_p)
_proto("babysea_authenticate", c_int, c_void_p, c_char_p, OUT)
_proto("babysea_generation_submit", c_int, c_void_p, c_char_p, c_char_p, c_char_p, c_char_p, c_char_p, OUT)
_proto("babysea_generation_get", c_int, c_void_p, c_char_p, c_char_p, OUT)
_proto("babysea_generation_list", c_int, c_void_p, c_char_p, c_int64, c_int64, OUT)
_proto("babysea_generation_cancel", c_int, c_void_p, c_char_p, c_char_p, OUT)
_proto("babysea_generation_delete", c_int, c_void_p, c_char_p, c_char_p, OUT)
_proto("babysea_estimate", c_int, c_void_p, c_char_p, c_char_p, c_char_p, OUT)
_proto("babysea_usage", c_int, c_void_p, c_char_p, c_int64, OUT)
_proto("babysea_api_call", c_int, c_void_p, c_char_p, c_char_p, c_char_p, OUT)
_proto("babysea_provider_callback", c_int, c_void_p, c_char_p, c_char_p, c_char_p, c_size_t, OUT)
_proto("babysea_stripe_event", c_int, c_void_p, c_char_p, c_char_p, c_size_t, OUT)
_proto("babysea_account_create", c_int, c_void_p, c_char_p, OUT)
_proto("babysea_api_key_issue", c_int, c_void_p, c_char_p, c_char_p, OUT)
_proto("babysea_api_key_list", c_int, c_void_p, c_char_p, OUT)
_proto("babysea_api_key_revoke", c_int, c_void_p, c_char_p, c_char_p, OUT)
_proto("babysea_credits_grant", c_int, c_void_p, c_char_p, c_char_p, c_char_p, OUT)
_proto("babysea_credits_balance", c_int, c_void_p, c_char_p, OUT)
_proto("babysea_credits_statement", c_int, c_void_p, c_char_p, c_int64, OUT)
_proto("babysea_ledger_audit", c_int, c_void_p, OUT)
_proto("babysea_webhook_endpoint_create", c_int, c_void_p, c_char_p, c_char_p, OUT)
_proto("babysea_webhook_endpoint_list", c_int, c_void_p, c_char_p, OUT)
_proto("babysea_webhook_endpoint_set_enabled", c_int, c_void_p, c_char_p, c_char_p, c_int, OUT)
_proto("babysea_webhook_endpoint_test", c_int, c_void_p, c_char_p, c_char_p, OUT)
_proto("babysea_health", c_int, c_void_p, OUT)
_proto("babysea_metrics_text", c_int, c_void_p, OUT)
_proto("babysea_engine_run_due", c_int, c_void_p, ctypes.POINTER(c_int64))
_proto("babysea_engine_drain", c_int, c_void_p)


def take_string(ptr: int | None) -> str | None:
    """Copies a library-owned string out and frees it."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        lib.babysea_free(ptr)
