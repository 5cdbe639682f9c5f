"""What the sync and the asyncio client share below the methods: framing,
addresses, TLS contexts, back-off, and the settings every limit lives in."""

import dataclasses
import json
import ssl

from . import errors

__all__ = ["Settings", "encode", "frame", "decode", "make_ssl_context",
           "parse_addresses", "backoff"]

MiB = 1024 * 1024


@dataclasses.dataclass
class Settings:
    """Every limit of a client, with its default. The constructors of
    :class:`cxesdb.Client` and :class:`cxesdb.aio.Client` take each field as
    a keyword argument of the same name; docs/python.md explains them."""

    #: Seconds a call may take in all, reconnects and retries included.
    timeout: float = 10.0
    #: Seconds one attempt to open a connection (TCP, TLS, authenticate)
    #: may take.
    connect_timeout: float = 5.0
    #: Requests of one client waiting for their answers at once; more wait
    #: for a free slot (the node's own limit per connection is 1024).
    max_in_flight: int = 1024
    #: Attempts to open a connection before a call (or a subscription's
    #: reconnect) gives up with :class:`cxesdb.Unavailable`.
    reconnect_attempts: int = 20
    #: First pause between two attempts, in seconds; it doubles each time.
    reconnect_delay: float = 0.05
    #: Longest pause between two attempts, in seconds.
    reconnect_delay_max: float = 1.0
    #: How often a safe request (a read, an append whose events all have
    #: ids) is sent again after a lost connection or an ``unavailable`` or
    #: ``overloaded`` answer (0: never).
    retry_attempts: int = 10
    #: Longest request line the client sends (the node's
    #: ``--max-message-bytes``); longer is :class:`cxesdb.TooLarge` before
    #: anything is sent.
    max_message_bytes: int = 16 * MiB
    #: Longest line the client accepts from the node; a longer one closes
    #: the connection.
    max_response_bytes: int = 256 * MiB
    #: Bytes of requests waiting to be written to the socket; senders wait
    #: beyond it.
    send_buffer_bytes: int = 64 * MiB
    #: Events a subscription holds that the application has not taken yet;
    #: beyond it the client stops reading that subscription's connection
    #: (the node then holds delivery back, or drops a transient
    #: subscription that falls too far behind, which the client resumes).
    #: A persistent subscription's buffer is at least its max_in_flight.
    subscription_buffer: int = 1024
    #: Seconds a subscription may take to subscribe again after its
    #: connection was lost (reconnects and ``unavailable`` answers while the
    #: store elects a leader included).
    resubscribe_timeout: float = 30.0

    @classmethod
    def from_kwargs(cls, kwargs):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(kwargs) - names
        if unknown:
            raise TypeError("unknown client option(s): %s"
                            % ", ".join(sorted(unknown)))
        s = cls(**kwargs)
        for f in dataclasses.fields(cls):
            v = getattr(s, f.name)
            low = 0 if f.name == "retry_attempts" else 1e-9
            if not isinstance(v, (int, float)) or v < low:
                raise ValueError("%s must be a number >= %g" % (f.name, low))
        return s


def encode(method, params, max_bytes):
    """Returns the request line without its id: the bytes that follow
    ``{"jsonrpc":"2.0","id":`` (see ``frame``). Encoded once per call, so
    that a retry costs no encoding. Raises TooLarge beyond ``max_bytes``."""
    body = (',"method":' + json.dumps(method) + ',"params":'
            + json.dumps(params, separators=(",", ":"), ensure_ascii=False,
                         allow_nan=False) + "}\n").encode("utf-8")
    if len(body) + 40 > max_bytes:
        raise errors.TooLarge(
            "request of %d bytes is over max_message_bytes" % (len(body) + 40),
            {"limit": max_bytes}, local=True)
    return body


def frame(msg_id, body):
    """The whole request line for an id and an encoded body."""
    return b'{"jsonrpc":"2.0","id":%d%s' % (msg_id, body)


def decode(line):
    """Parses one line from the node; None for a blank line."""
    line = line.strip()
    if not line:
        return None
    return json.loads(line)


def make_ssl_context(tls_ca, tls_cert=None, tls_key=None):
    """The TLS context for ``tls_ca``: None (no TLS), an ssl.SSLContext
    (used as it is), True (the system's CAs) or the path of a PEM file of
    CA certificates. ``tls_cert``/``tls_key`` give a client certificate for
    nodes started with ``--tls-client-ca``."""
    if tls_ca is None or tls_ca is False:
        if tls_cert:
            raise ValueError("tls_cert needs tls_ca")
        return None
    if isinstance(tls_ca, ssl.SSLContext):
        return tls_ca
    ctx = ssl.create_default_context(
        cafile=None if tls_ca is True else tls_ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls_cert:
        ctx.load_cert_chain(tls_cert, tls_key)
    return ctx


def parse_addresses(host, port, addresses):
    """The list of (host, port) to connect to: the first given by host and
    port, then ``addresses`` (``"host:port"`` strings or pairs)."""
    out = [(host, int(port))]
    for a in addresses or ():
        if isinstance(a, str):
            h, _, p = a.rpartition(":")
            a = (h.strip("[]") or "127.0.0.1", int(p))
        a = (a[0], int(a[1]))
        if a not in out:
            out.append(a)
    return out


def backoff(settings, attempt):
    """The pause before attempt number ``attempt`` (from 1)."""
    return min(settings.reconnect_delay * (2 ** max(0, attempt - 1)),
               settings.reconnect_delay_max)


def is_retryable_answer(err):
    """Answers after which a safe request is sent again: nothing was done
    (unavailable, overloaded), or the outcome is unknown (timeout), which
    does not matter for a read or an append with event ids."""
    return isinstance(err, (errors.Unavailable, errors.Overloaded,
                            errors.Timeout))
