"""Errors of the cxesdb client: one class per protocol reason.

Every error the node answers carries a stable tag, ``data.reason``
(docs/protocol.md, section 3). The client raises the class registered for
that tag; all of them derive from :class:`Error`, so ``except cxesdb.Error``
catches everything the client raises on purpose.

Failures of the connection itself are mapped to reasons as the C++ client
does (docs/protocol.md, section 10): :class:`Unavailable` when no node could
be reached, :class:`Timeout` when no answer came in time or a request that is
not safe to repeat lost its connection before its answer (its outcome is
unknown). Such errors have ``local`` set to True.
"""

__all__ = [
    "Error", "ParseError", "InvalidRequest", "MethodNotFound", "InvalidParams",
    "InternalError", "NotFound", "AlreadyExists", "WrongExpectedVersion",
    "Unavailable", "Timeout", "Unauthorized", "Forbidden", "TooLarge",
    "Overloaded", "DuplicateEvent", "StreamDeleted", "SubscriptionDropped",
    "error_from_response", "ERROR_CLASSES",
]


class Error(Exception):
    """Base class of every error the client raises.

    Attributes: ``reason`` (the protocol's tag, e.g. ``"not_found"``),
    ``code`` (the JSON-RPC error code), ``message`` (the node's human text,
    which may change between versions), ``data`` (the error's ``data``
    object, with ``reason`` and the reason's extra fields) and ``local``
    (True when the client made the error up itself, e.g. for a lost
    connection, False when the node answered it).
    """

    reason = "error"
    code = 0

    def __init__(self, message="", data=None, *, code=None, reason=None,
                 local=False):
        super().__init__(message)
        self.message = message
        self.data = dict(data) if isinstance(data, dict) else {}
        if reason is not None:
            self.reason = reason
        elif "reason" in self.data and type(self) is Error:
            self.reason = self.data["reason"]
        self.data.setdefault("reason", self.reason)
        if code is not None:
            self.code = code
        self.local = local

    def __str__(self):
        extra = {k: v for k, v in self.data.items() if k != "reason"}
        text = "%s (%s, %d)" % (self.message or self.reason, self.reason,
                                self.code)
        if extra:
            text += " " + ", ".join("%s=%r" % kv for kv in sorted(extra.items()))
        return text

    def __repr__(self):
        return "%s(%r, %r)" % (type(self).__name__, self.message, self.data)

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.data, self.code,
                           self.reason, self.local))


def _rebuild(cls, message, data, code, reason, local):
    return cls(message, data, code=code, reason=reason, local=local)


class ParseError(Error):
    """The node could not parse a message as JSON (-32700)."""
    reason, code = "parse_error", -32700


class InvalidRequest(Error):
    """The message was JSON but not a JSON-RPC 2.0 request (-32600)."""
    reason, code = "invalid_request", -32600


class MethodNotFound(Error):
    """The node does not know the method (-32601)."""
    reason, code = "method_not_found", -32601


class InvalidParams(Error):
    """A parameter is missing, of the wrong type or out of range (-32602).

    ``field`` names the parameter as the request wrote it, e.g. ``"store"``
    or ``"events[1].event_id"``.
    """
    reason, code = "invalid_params", -32602

    @property
    def field(self):
        return self.data.get("field")


class InternalError(Error):
    """A fault inside the node; its log has the details (-32603)."""
    reason, code = "internal_error", -32603


class NotFound(Error):
    """The store, snapshot, subscription or node does not exist (-32001).

    ``what`` says which: ``"store"``, ``"snapshot"``, ``"subscription"``,
    ``"node"``.
    """
    reason, code = "not_found", -32001

    @property
    def what(self):
        return self.data.get("what")


class AlreadyExists(Error):
    """create_store of an existing store, or a subscription name taken by
    another type or selector (-32002)."""
    reason, code = "already_exists", -32002


class WrongExpectedVersion(Error):
    """The optimistic concurrency check of an append failed (-32003).

    ``current_version`` is the stream's version now (-1: no events);
    ``expected_version`` the value the append carried.
    """
    reason, code = "wrong_expected_version", -32003

    @property
    def current_version(self):
        return self.data.get("current_version")

    @property
    def expected_version(self):
        return self.data.get("expected_version")


class Unavailable(Error):
    """The store has no leader or quorum, or no node could be reached;
    nothing was written and the request is safe to retry (-32004)."""
    reason, code = "unavailable", -32004


class Timeout(Error):
    """No answer in time; the outcome of a write is unknown (-32005)."""
    reason, code = "timeout", -32005


class Unauthorized(Error):
    """Authentication is required or failed (-32006)."""
    reason, code = "unauthorized", -32006


class Forbidden(Error):
    """Authenticated but not allowed, or an operation the node refuses
    (removing the default store) (-32007)."""
    reason, code = "forbidden", -32007


class TooLarge(Error):
    """A message, event or batch over a limit; ``limit`` is the limit
    (-32008)."""
    reason, code = "too_large", -32008

    @property
    def limit(self):
        return self.data.get("limit")


class Overloaded(Error):
    """The node sheds load; retry later (-32009)."""
    reason, code = "overloaded", -32009


class DuplicateEvent(Error):
    """Some, but not all, of the batch's event ids are already in the
    stream (-32010)."""
    reason, code = "duplicate_event", -32010


class StreamDeleted(Error):
    """The stream was deleted for good (protocol version 2; -32011)."""
    reason, code = "stream_deleted", -32011

    @property
    def stream(self):
        return self.data.get("stream")


class SubscriptionDropped(Error):
    """The node ended a subscription (notification ``subscription_dropped``)
    for a reason the client does not recover from by itself, such as
    ``removed``. ``drop_reason`` is the node's reason. Not a protocol error
    reason: raised by the client only (code 0)."""
    reason, code = "subscription_dropped", 0

    @property
    def drop_reason(self):
        return self.data.get("drop_reason")


ERROR_CLASSES = {cls.reason: cls for cls in (
    ParseError, InvalidRequest, MethodNotFound, InvalidParams, InternalError,
    NotFound, AlreadyExists, WrongExpectedVersion, Unavailable, Timeout,
    Unauthorized, Forbidden, TooLarge, Overloaded, DuplicateEvent,
    StreamDeleted)}

_BY_CODE = {cls.code: cls for cls in ERROR_CLASSES.values()}


def error_from_response(error):
    """Returns the exception for a JSON-RPC ``error`` object (or for a whole
    response that has one). Picks the class by ``data.reason``, else by
    ``code``; an unknown reason gives a plain :class:`Error` with that
    reason."""
    if isinstance(error, dict) and "error" in error and "code" not in error:
        error = error["error"]
    if not isinstance(error, dict):
        return Error("malformed error: %r" % (error,), {"reason": "error"})
    data = error.get("data")
    data = dict(data) if isinstance(data, dict) else {}
    message = error.get("message") if isinstance(error.get("message"), str) \
        else ""
    code = error.get("code") if isinstance(error.get("code"), int) else 0
    reason = data.get("reason")
    cls = ERROR_CLASSES.get(reason) if isinstance(reason, str) else None
    if cls is None and reason is None:
        cls = _BY_CODE.get(code)
    if cls is None:
        return Error(message, data, code=code,
                     reason=reason if isinstance(reason, str) else "error")
    return cls(message, data, code=code)
