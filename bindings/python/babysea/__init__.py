"""babysea: the execution control plane for generative media, from Python.

A ctypes binding over libbabysea.so's C ABI (standard library only). Set
BABYSEA_LIBRARY to the library's path, or run from a source checkout with a
build tree (build*/libbabysea.so).

    import babysea
    with babysea.Engine(config) as engine:
        key = engine.issue_api_key("acct_1")["key"]
        engine.grant_credits("acct_1", "10", key="welcome")
        g = engine.submit(key, "bfl/flux-schnell", {"generation_prompt": "a lighthouse"})
"""

from . import errors
from ._ffi import lib as _lib
from .engine import Engine
from .errors import *  # noqa: F401,F403 - the exception hierarchy
from .errors import BabyseaError, EngineClosed


def version() -> str:
    """The library's run-time version, e.g. "0.1.0"."""
    return _lib.babysea_version().decode()


def version_number() -> int:
    return _lib.babysea_version_number()


def error_name(code: int) -> str:
    """The stable name of an error code ("insufficient_credits"), "unknown" otherwise."""
    return _lib.babysea_error_name(code).decode()


__all__ = ["Engine", "BabyseaError", "EngineClosed", "version", "version_number", "error_name"] + errors.__all__
