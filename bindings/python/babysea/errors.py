"""Exceptions: BabyseaError and one subclass per pinned error code."""

from __future__ import annotations

from typing import Any


class BabyseaError(Exception):
    """A failed babysea call.

    Attributes: code (the pinned number), type ("insufficient_credits"),
    message, retryable, issues (list of {field, code, message}).
    """

    code = -1
    type = "unknown"

    def __init__(self, message: str, *, code: int | None = None, type: str | None = None,
                 retryable: bool = False, issues: list[dict[str, Any]] | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        if type is not None:
            self.type = type
        self.message = message
        self.retryable = retryable
        self.issues = list(issues or [])

    def __str__(self) -> str:
        s = f"{self.type}: {self.message}"
        if self.issues:
            s += " (" + "; ".join(f"{i.get('field')}: {i.get('message')}" for i in self.issues) + ")"
        return s


def _make(name: str, code: int, type_name: str) -> type:
    return type(name, (BabyseaError,), {"code": code, "type": type_name,
                                         "__doc__": f"babysea error {code} ({type_name})."})


InvalidRequest = _make("InvalidRequest", 1, "invalid_request")
NotFound = _make("NotFound", 2, "not_found")
InsufficientCredits = _make("InsufficientCredits", 3, "insufficient_credits")
IdempotencyConflict = _make("IdempotencyConflict", 4, "idempotency_conflict")
IdempotencyInProgress = _make("IdempotencyInProgress", 5, "idempotency_in_progress")
InvalidState = _make("InvalidState", 6, "invalid_state")
Unauthenticated = _make("Unauthenticated", 7, "unauthenticated")
Forbidden = _make("Forbidden", 8, "forbidden")
RateLimited = _make("RateLimited", 9, "rate_limited")
ModelNotFound = _make("ModelNotFound", 10, "model_not_found")
PayloadTooLarge = _make("PayloadTooLarge", 11, "payload_too_large")
UnsupportedMediaType = _make("UnsupportedMediaType", 12, "unsupported_media_type")
UrlForbidden = _make("UrlForbidden", 13, "url_forbidden")
InvalidSignature = _make("InvalidSignature", 14, "invalid_signature")
ProvidersFailed = _make("ProvidersFailed", 15, "providers_failed")
ProviderTimeout = _make("ProviderTimeout", 16, "provider_timeout")
Unavailable = _make("Unavailable", 17, "unavailable")
StorageError = _make("StorageError", 18, "storage_error")
Corruption = _make("Corruption", 19, "corruption")
Internal = _make("Internal", 20, "internal")
InvalidAmount = _make("InvalidAmount", 21, "invalid_amount")
Canceled = _make("Canceled", 22, "canceled")
Timeout = _make("Timeout", 23, "timeout")
Unsupported = _make("Unsupported", 24, "unsupported")


class EngineClosed(Unavailable):
    """The engine was closed; no call may be made on it any more."""


BY_CODE: dict[int, type] = {cls.code: cls for cls in (
    InvalidRequest, NotFound, InsufficientCredits, IdempotencyConflict, IdempotencyInProgress,
    InvalidState, Unauthenticated, Forbidden, RateLimited, ModelNotFound, PayloadTooLarge,
    UnsupportedMediaType, UrlForbidden, InvalidSignature, ProvidersFailed, ProviderTimeout,
    Unavailable, StorageError, Corruption, Internal, InvalidAmount, Canceled, Timeout, Unsupported)}


def error_from(code: int, document: dict[str, Any] | None, fallback_message: str = "") -> BabyseaError:
    """The exception for a failed call, from its code and error document."""
    err = (document or {}).get("error", {}) if isinstance(document, dict) else {}
    cls = BY_CODE.get(code, BabyseaError)
    return cls(err.get("message") or fallback_message or f"error {code}",
               code=code, type=err.get("type"), retryable=bool(err.get("retryable", False)),
               issues=(err.get("details") or {}).get("issues") or [])


__all__ = ["BabyseaError", "EngineClosed", "error_from", "BY_CODE"] + [c.__name__ for c in BY_CODE.values()]
