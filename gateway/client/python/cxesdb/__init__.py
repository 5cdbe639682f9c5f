"""cxesdb: a client of the cxesdb event store, standard library only.

::

    import cxesdb
    with cxesdb.Client("127.0.0.1", 7411) as c:
        c.append("order-1", [{"event_type": "OrderPlaced", "data": {"total": 5}}])
        print(c.get_events("order-1"))

:class:`Client` is synchronous and thread-safe; :mod:`cxesdb.aio` has the
same methods as coroutines. Errors the node answers are raised as
subclasses of :class:`Error`, one per protocol reason. docs/python.md in the
cxesdb repository is the guide.
"""

from .errors import (  # noqa: F401
    Error, ParseError, InvalidRequest, MethodNotFound, InvalidParams,
    InternalError, NotFound, AlreadyExists, WrongExpectedVersion, Unavailable,
    Timeout, Unauthorized, Forbidden, TooLarge, Overloaded, DuplicateEvent,
    StreamDeleted, SubscriptionDropped, ERROR_CLASSES, error_from_response)
from ._api import new_event_id, event_bytes, READ_METHODS  # noqa: F401
from ._wire import Settings  # noqa: F401
from .client import Client, Subscription  # noqa: F401

__version__ = "0.1.0"

__all__ = [
    "Client", "Subscription", "Settings", "Error", "ParseError",
    "InvalidRequest", "MethodNotFound", "InvalidParams", "InternalError",
    "NotFound", "AlreadyExists", "WrongExpectedVersion", "Unavailable",
    "Timeout", "Unauthorized", "Forbidden", "TooLarge", "Overloaded",
    "DuplicateEvent", "StreamDeleted", "SubscriptionDropped", "ERROR_CLASSES",
    "error_from_response", "new_event_id", "event_bytes", "READ_METHODS",
]
