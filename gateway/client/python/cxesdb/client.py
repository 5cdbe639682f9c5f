"""The synchronous client: one pipelined connection shared by many threads.

A connection is a socket and one I/O thread that both writes the requests
queued by callers and reads the answers, handing each to the caller waiting
for its id. One thread per socket keeps TLS correct (an SSL object must not
be read and written by two threads at once) and lets many requests go out in
one write. Subscriptions get a connection of their own, so that their events
never queue behind (or hold up) the answers of ordinary calls, and so that
an ack goes out on the connection that received the event, as the node
requires.
"""

import collections
import itertools
import logging
import selectors
import socket
import ssl
import threading
import time
import weakref

from . import errors
from ._api import Api
from ._wire import (Settings, backoff, decode, encode, frame,
                    is_retryable_answer, make_ssl_context, parse_addresses)

__all__ = ["Client", "Subscription"]

log = logging.getLogger("cxesdb")

_ids = itertools.count(1)


class _Lost(Exception):
    """The connection closed before the answer came (internal)."""


class _Pending:
    """A request waiting for its answer: a lock held until the answer (or
    the end of the connection) releases it."""
    __slots__ = ("latch", "response", "lost")

    def __init__(self):
        self.latch = threading.Lock()
        self.latch.acquire()
        self.response = None
        self.lost = False


_LOST = object()  # the end of a connection, as seen by a subscription


class _Connection:
    """One socket served by one I/O thread.

    Callers queue request lines with ``call``; the I/O thread writes them,
    reads answers and releases the caller waiting for each id.
    Notifications go to ``on_notification`` when given, otherwise into a
    queue of at most ``buffer_max`` that ``take`` empties (a subscription's
    connection); while it is full, the I/O thread stops reading the socket.
    """

    def __init__(self, sock, settings, on_notification=None,
                 buffer_max=None, name=""):
        self._sock = sock
        self._settings = settings
        self._on_notification = on_notification
        self._buffer_max = buffer_max
        self.name = name
        self._pending = {}
        self.peak_in_flight = 0  # most requests waiting at once (a statistic)
        self._plock = threading.Lock()
        self._out = bytearray()
        self._ocond = threading.Condition(threading.Lock())
        self._notes = collections.deque()
        self._ncond = threading.Condition(threading.Lock())
        self._reading = True
        self.closed = False
        self.close_reason = None
        self._inbuf = bytearray()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        sock.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._wake_r, selectors.EVENT_READ)
        self._sel.register(sock, selectors.EVENT_READ)
        self._mask = selectors.EVENT_READ
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="cxesdb-io " + name)
        self._thread.start()

    # --- callers ---------------------------------------------------------

    def call(self, method, params, deadline):
        """Sends a request and returns the answer object. Raises _Lost when
        the connection ends first and errors.Timeout at the deadline."""
        if not isinstance(params, bytes):
            params = encode(method, params, self._settings.max_message_bytes)
        msg_id = next(_ids)
        line = frame(msg_id, params)
        p = _Pending()
        with self._plock:
            if self.closed:
                raise _Lost()
            self._pending[msg_id] = p
            if len(self._pending) > self.peak_in_flight:
                self.peak_in_flight = len(self._pending)
        try:
            self._send(line, deadline)
        except BaseException:
            with self._plock:
                self._pending.pop(msg_id, None)
            raise
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not p.latch.acquire(timeout=remaining):
            with self._plock:
                self._pending.pop(msg_id, None)
            if p.response is None and not p.lost:
                raise errors.Timeout(
                    "no answer to %s within the client's timeout" % method,
                    local=True)
        if p.lost:
            raise _Lost()
        return p.response

    def send_only(self, method, params):
        """Sends a request whose answer nobody waits for."""
        line = frame(next(_ids), encode(method, params,
                                        self._settings.max_message_bytes))
        self._send(line, time.monotonic() + self._settings.timeout)

    def _send(self, line, deadline):
        with self._ocond:
            while (self._out and len(self._out) + len(line)
                   > self._settings.send_buffer_bytes and not self.closed):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise errors.Timeout("send buffer full until the deadline",
                                         local=True)
                self._ocond.wait(remaining)
            if self.closed:
                raise _Lost()
            wake = not self._out
            self._out += line
        if wake:
            self._wake()

    def take(self, timeout):
        """The next notification of a subscription's connection, _LOST once
        it ended, or None when ``timeout`` (None: no limit) passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ncond:
            while not self._notes:
                if self.closed:
                    return _LOST
                if deadline is None:
                    self._ncond.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._ncond.wait(remaining)
            item = self._notes.popleft()
            resume = (not self._reading
                      and len(self._notes) <= self._buffer_max // 2)
            if resume:
                self._reading = True
        if resume:
            self._wake()
        return item

    def close(self, reason="closed by the client", join=True):
        with self._plock:
            if self.closed:
                return
            self.close_reason = reason
            self.closed = True
        self._wake()
        if join and threading.current_thread() is not self._thread:
            self._thread.join(5.0)

    def _wake(self):
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass  # full (a wake-up is pending anyway) or closed

    # --- the I/O thread --------------------------------------------------

    def _run(self):
        reason = None
        try:
            while not self.closed:
                self._update_mask()
                for key, mask in self._sel.select():
                    if key.fileobj is self._wake_r:
                        try:
                            while self._wake_r.recv(4096):
                                pass
                        except (BlockingIOError, InterruptedError):
                            pass
                    else:
                        if mask & selectors.EVENT_READ:
                            self._read()
                        if mask & selectors.EVENT_WRITE:
                            self._flush()
                self._flush()
                if (self._reading and isinstance(self._sock, ssl.SSLSocket)
                        and self._sock.pending()):
                    self._read()  # plaintext the TLS layer already holds
        except _Lost as e:
            reason = str(e) or "connection closed by the node"
        except (OSError, ValueError) as e:
            reason = "connection failed: %s" % e
        except Exception as e:  # a bug: never leave callers hanging
            log.exception("cxesdb: I/O thread of %s failed", self.name)
            reason = "I/O thread failed: %r" % e
        self._finish(reason)

    def _update_mask(self):
        mask = selectors.EVENT_READ if self._reading else 0
        with self._ocond:
            if self._out:
                mask |= selectors.EVENT_WRITE
        if mask != self._mask:
            if self._mask == 0:
                self._sel.register(self._sock, mask)
            elif mask == 0:
                self._sel.unregister(self._sock)
            else:
                self._sel.modify(self._sock, mask)
            self._mask = mask

    def _flush(self):
        with self._ocond:
            if not self._out:
                return
            try:
                n = self._sock.send(self._out)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError,
                    ssl.SSLWantReadError):
                return
            del self._out[:n]
            self._ocond.notify_all()

    def _read(self):
        max_line = self._settings.max_response_bytes
        while self._reading:
            try:
                data = self._sock.recv(262144)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError,
                    ssl.SSLWantWriteError):
                return
            if not data:
                raise _Lost("connection closed by the node")
            buf = self._inbuf
            start = len(buf)
            buf += data
            begin = 0
            nl = buf.find(b"\n", start)
            while nl >= 0:
                self._dispatch(buf[begin:nl])
                begin = nl + 1
                nl = buf.find(b"\n", begin)
            if begin:
                del buf[:begin]
            if len(buf) > max_line:
                raise _Lost("an answer longer than max_response_bytes")
            if len(data) < 262144 and not isinstance(self._sock,
                                                     ssl.SSLSocket):
                return

    def _dispatch(self, line):
        try:
            msg = decode(line)
        except ValueError:
            log.warning("cxesdb: %s: a line that is not JSON from the node",
                        self.name)
            return
        if msg is None:
            return
        if isinstance(msg, list):
            for m in msg:
                self._dispatch_one(m)
        else:
            self._dispatch_one(msg)

    def _dispatch_one(self, msg):
        if not isinstance(msg, dict):
            return
        if "id" in msg and ("result" in msg or "error" in msg):
            msg_id = msg["id"]
            with self._plock:
                p = self._pending.pop(msg_id, None) \
                    if isinstance(msg_id, int) else None
            if p is not None:
                p.response = msg
                p.latch.release()
            elif "error" in msg:
                log.warning("cxesdb: %s: an error nobody waits for: %s",
                            self.name, errors.error_from_response(msg))
            return
        if "method" not in msg:
            return
        if self._on_notification is not None:
            try:
                self._on_notification(msg)
            except Exception:
                log.exception("cxesdb: on_notification failed")
            return
        if self._buffer_max is None:
            log.debug("cxesdb: %s: notification dropped: %s", self.name,
                      msg.get("method"))
            return
        with self._ncond:
            self._notes.append(msg)
            if len(self._notes) >= self._buffer_max:
                self._reading = False
            self._ncond.notify()

    def _finish(self, reason):
        with self._plock:
            self.closed = True
            if self.close_reason is None:
                self.close_reason = reason
            pending, self._pending = self._pending, {}
        for p in pending.values():
            p.lost = True
            p.latch.release()
        with self._ocond:
            self._ocond.notify_all()
        with self._ncond:
            self._ncond.notify_all()
        for s in (self._sock, self._wake_r, self._wake_w):
            try:
                s.close()
            except OSError:
                pass
        try:
            self._sel.close()
        except Exception:
            pass


class Client(Api):
    """A client of one cxesdb cluster (or node), safe to share between
    threads.

    ``Client(host, port)`` connects at once (raising :class:`Unavailable`
    when no node answers) and keeps one connection, on which the requests
    of every thread are pipelined. ``addresses`` lists more nodes
    (``"host:port"`` or pairs): after a lost connection the client tries
    the same node first, then the others in turn.

    ``token`` is sent with ``authenticate`` after every connect, and
    ``tls_ca`` (a PEM file, True for the system's CAs, or an
    ``ssl.SSLContext``) makes the client speak TLS, as protocol section 8
    describes; ``tls_cert``/``tls_key`` add a client certificate and
    ``tls_server_name`` the name to check (default: the host). The node does
    not serve TLS or tokens yet.

    ``on_notification`` receives notifications that arrive on the shared
    connection (only after a raw ``call("save_subscription", ...)``; use
    :meth:`subscribe` instead), in the I/O thread.

    Every limit is a keyword argument with a default (the fields of
    :class:`cxesdb.Settings`): ``timeout`` (10 s per call, retries
    included), ``connect_timeout``, ``max_in_flight``,
    ``reconnect_attempts``, ``reconnect_delay``, ``reconnect_delay_max``,
    ``retry_attempts``, ``max_message_bytes``, ``max_response_bytes``,
    ``send_buffer_bytes``, ``subscription_buffer``, ``resubscribe_timeout``.
    """

    def __init__(self, host="127.0.0.1", port=7411, *, token=None,
                 tls_ca=None, tls_cert=None, tls_key=None,
                 tls_server_name=None, addresses=None, on_notification=None,
                 connect=True,
                 timeout=Settings.timeout,
                 connect_timeout=Settings.connect_timeout,
                 max_in_flight=Settings.max_in_flight,
                 reconnect_attempts=Settings.reconnect_attempts,
                 reconnect_delay=Settings.reconnect_delay,
                 reconnect_delay_max=Settings.reconnect_delay_max,
                 retry_attempts=Settings.retry_attempts,
                 max_message_bytes=Settings.max_message_bytes,
                 max_response_bytes=Settings.max_response_bytes,
                 send_buffer_bytes=Settings.send_buffer_bytes,
                 subscription_buffer=Settings.subscription_buffer,
                 resubscribe_timeout=Settings.resubscribe_timeout):
        self.settings = Settings.from_kwargs(dict(
            timeout=timeout, connect_timeout=connect_timeout,
            max_in_flight=max_in_flight,
            reconnect_attempts=reconnect_attempts,
            reconnect_delay=reconnect_delay,
            reconnect_delay_max=reconnect_delay_max,
            retry_attempts=retry_attempts,
            max_message_bytes=max_message_bytes,
            max_response_bytes=max_response_bytes,
            send_buffer_bytes=send_buffer_bytes,
            subscription_buffer=subscription_buffer,
            resubscribe_timeout=resubscribe_timeout))
        self.addresses = parse_addresses(host, port, addresses)
        self._token = token
        self._ssl = make_ssl_context(tls_ca, tls_cert, tls_key)
        self._server_name = tls_server_name
        self._on_notification = on_notification
        self._conn = None
        self._conn_lock = threading.Lock()
        self._address_index = 0
        #: How often the client opened a new connection after losing one.
        self.reconnects = 0
        self._slots = threading.BoundedSemaphore(self.settings.max_in_flight)
        self._subscriptions = weakref.WeakSet()
        self._closed = False
        if connect:
            self._connection(time.monotonic() + self.settings.timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # A client dropped without close() must not leave its I/O thread
        # and socket behind.
        conn = self.__dict__.get("_conn")
        if conn is not None:
            conn.close(join=False)

    def __repr__(self):
        return "<cxesdb.Client %s>" % ",".join(
            "%s:%d" % a for a in self.addresses)

    @property
    def connected_to(self):
        """The (host, port) of the current connection, or None."""
        conn = self._conn
        if conn is None or conn.closed:
            return None
        return self.addresses[self._address_index]

    def close(self):
        """Closes the connection and every subscription of this client.
        Calls after close raise :class:`Unavailable`."""
        self._closed = True
        for sub in list(self._subscriptions):
            sub.close()
        with self._conn_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # --- connections -----------------------------------------------------

    def _open(self, deadline, *, buffer_max=None, on_notification=None,
              prefer=None):
        """Opens a new connection (TCP, TLS, authenticate), trying the
        addresses in turn from ``prefer`` up to ``reconnect_attempts``
        times. Returns (connection, address index)."""
        s = self.settings
        n = len(self.addresses)
        start = self._address_index if prefer is None else prefer
        last = None
        for attempt in range(s.reconnect_attempts):
            if self._closed:
                raise errors.Unavailable("the client is closed", local=True)
            if attempt:
                pause = min(backoff(s, attempt), deadline - time.monotonic())
                if pause <= 0:
                    break
                time.sleep(pause)
            index = (start + attempt) % n
            host, port = self.addresses[index]
            limit = min(s.connect_timeout, deadline - time.monotonic())
            if limit <= 0:
                break
            try:
                sock = socket.create_connection((host, port), timeout=limit)
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                    if self._ssl is not None:
                        sock = self._ssl.wrap_socket(
                            sock, server_hostname=self._server_name or host)
                except BaseException:
                    sock.close()
                    raise
            except (OSError, ssl.SSLError) as e:
                last = e
                continue
            conn = _Connection(sock, s, on_notification=on_notification,
                               buffer_max=buffer_max,
                               name="%s:%d" % (host, port))
            if self._token is not None:
                try:
                    resp = conn.call("authenticate", {"token": self._token},
                                     min(deadline, time.monotonic() + limit))
                except _Lost:
                    last = OSError("connection closed during authenticate")
                    continue
                except BaseException:
                    conn.close()
                    raise
                if "error" in resp:
                    conn.close()
                    raise errors.error_from_response(resp)
            return conn, index
        raise errors.Unavailable(
            "cannot connect to %s: %s" % (
                ", ".join("%s:%d" % a for a in self.addresses), last),
            local=True)

    def _connection(self, deadline):
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        if not self._conn_lock.acquire(
                timeout=max(0.0, deadline - time.monotonic())):
            raise errors.Timeout("waited too long for a connection",
                                 local=True)
        try:
            conn = self._conn
            if conn is not None and not conn.closed:
                return conn
            conn, index = self._open(
                deadline, on_notification=self._on_notification)
            if self._conn is not None:
                self.reconnects += 1
            self._conn, self._address_index = conn, index
            return conn
        finally:
            self._conn_lock.release()

    def _invoke(self, method, params, safe, transform=None):
        s = self.settings
        deadline = time.monotonic() + s.timeout
        body = encode(method, params, s.max_message_bytes)
        if not self._slots.acquire(timeout=s.timeout):
            raise errors.Timeout("max_in_flight requests were waiting",
                                 local=True)
        try:
            attempt = 0
            while True:
                conn = self._connection(deadline)
                try:
                    resp = conn.call(method, body, deadline)
                except _Lost:
                    if not safe:
                        raise errors.Timeout(
                            "the connection was lost before the answer to %s;"
                            " its outcome is unknown" % method, local=True)
                    attempt += 1
                    if attempt > s.retry_attempts:
                        raise errors.Unavailable(
                            "the connection was lost %d times" % attempt,
                            local=True)
                    continue
                if "error" not in resp:
                    result = resp.get("result")
                    return transform(result) if transform else result
                err = errors.error_from_response(resp)
                attempt += 1
                if not (safe and is_retryable_answer(err)
                        and attempt <= s.retry_attempts):
                    raise err
                pause = backoff(s, attempt)
                if time.monotonic() + pause >= deadline:
                    raise err
                time.sleep(pause)
        finally:
            self._slots.release()

    # --- methods that page or need a connection of their own ----------

    def read_all(self, *, from_position=None, batch=1000, direction="forward",
                 store=None):
        """Iterates over the store's events in position order (``$all``),
        reading ``batch`` events per request as the iteration goes. Forward
        (default) from ``from_position`` (default 0) to the end as of the
        last page read; backward from ``from_position`` (default: the last
        event) down to position 0. :meth:`read_all_page` reads one page."""
        pos = from_position
        while True:
            page = self.read_all_page(from_position=pos, count=batch,
                                      direction=direction, store=store)
            events = page["events"]
            yield from events
            pos = page.get("next_position")
            if len(events) < batch or pos is None:
                return

    def iter_events(self, stream, *, start=None, batch=1000,
                    direction="forward", store=None):
        """Iterates over a stream's events, reading ``batch`` per request,
        forward from ``start`` (default 0) or backward from ``start``
        (default: the last event)."""
        while True:
            events = self.get_events(stream, start=start, count=batch,
                                     direction=direction, store=store)
            yield from events
            if len(events) < batch:
                return
            last = events[-1]["event_number"]
            start = last + 1 if direction == "forward" else last - 1
            if start < 0:
                return

    def iter_streams(self, *, after=None, batch=10000, store=None):
        """Iterates over every stream id of the store in byte order."""
        while True:
            page = self.get_streams(after=after, limit=batch, store=store)
            yield from page["streams"]
            after = page.get("next_after")
            if after is None:
                return

    def subscribe(self, type, selector, *, name="transient",
                  start_from=None, max_in_flight=None, store=None):
        """Subscribes on a connection of its own and returns a
        :class:`Subscription`: iterate over it for the events, first the
        stored ones from ``start_from`` (``"origin"``, ``"current"``, the
        default, or a position), then live ones, in position order.

        ``type`` is ``by_stream`` (``selector`` ``"$all"`` or a stream id),
        ``by_event_type``, ``by_event_pattern`` or ``by_event_payload``
        (``selector`` a dict). ``name`` ``"transient"`` (default) lives with
        the subscription; any other name is persistent: the node keeps its
        checkpoint, moved by :meth:`Subscription.ack`, and delivers at least
        once, at most ``max_in_flight`` (default 256) unacknowledged events
        at a time.

        When its connection is lost, or the node drops it (store stopped,
        slow consumer), the subscription reconnects (to any address of the
        client) and subscribes again: a transient one from the position after
        the last event it handed out, so there is neither a gap nor a
        duplicate; a persistent one after its checkpoint, so events handed
        out but not acknowledged come again. Use it as a context manager, or
        call :meth:`Subscription.close`."""
        sub = Subscription(self, type, selector, name=name,
                           start_from=start_from,
                           max_in_flight=max_in_flight, store=store)
        self._subscriptions.add(sub)
        return sub

    def save_subscription(self, type, selector, *, name="transient",
                          start_from=None, max_in_flight=None, store=None):
        """The protocol's ``save_subscription``: the same as
        :meth:`subscribe` (a subscription needs a connection of its own in
        this client). Returns a :class:`Subscription` whose ``id`` and
        ``checkpoint`` are the node's answer."""
        return self.subscribe(type, selector, name=name,
                              start_from=start_from,
                              max_in_flight=max_in_flight, store=store)

    def unsubscribe(self, subscription, *, store=None):
        """Ends a subscription: a :class:`Subscription` (see
        :meth:`Subscription.unsubscribe`), or the id of one made on the
        shared connection with a raw ``call``. Returns
        ``{"unsubscribed": true}``; raises :class:`NotFound` for an id this
        connection is not subscribed to."""
        if isinstance(subscription, Subscription):
            return subscription.unsubscribe()
        return self._invoke("unsubscribe", _params(
            store=store, subscription=subscription), False)

    def ack_event(self, subscription, position, *, store=None):
        """Acknowledges every event up to ``position`` (a position or an
        event dict) delivered to the subscription's connection; returns
        ``{"checkpoint"}`` once the checkpoint is stored. ``subscription``
        is a :class:`Subscription` (see :meth:`Subscription.ack`) or the id
        of one made on the shared connection."""
        if isinstance(subscription, Subscription):
            return subscription.ack(position)
        if isinstance(position, dict):
            position = position["position"]
        return self._invoke("ack_event", _params(
            store=store, subscription=subscription, position=position),
            False)


def _params(**kw):
    return {k: v for k, v in kw.items() if v is not None}


class Subscription:
    """A subscription on a connection of its own; see
    :meth:`Client.subscribe`.

    Iterating blocks for the next event and ends when the subscription is
    closed (from another thread, too). ``next_event(timeout)`` returns None
    when nothing arrived in time. ``id`` and ``checkpoint`` are the node's
    answer to the latest ``save_subscription``; ``last_position`` is the
    position of the last event handed out; ``reconnects`` counts how often
    the subscription was made again on a new connection.
    """

    def __init__(self, client, type, selector, *, name, start_from,
                 max_in_flight, store):
        self._client = client
        self.type = type
        self.selector = selector
        self.name = name
        self.store = store
        self.persistent = name != "transient"
        self._start_from = start_from
        self._max_in_flight = max_in_flight
        buffer_max = client.settings.subscription_buffer
        if self.persistent:
            buffer_max = max(buffer_max, max_in_flight or 256)
        self._buffer_max = buffer_max
        self.id = None
        self.checkpoint = None
        self.last_position = None
        self.reconnects = 0
        self._first_checkpoint = None
        self._conn = None
        self._conn_index = None
        self._closed = False
        self._lock = threading.Lock()
        self._subscribe(time.monotonic() + client.settings.timeout,
                        first=True)

    def __repr__(self):
        return "<cxesdb.Subscription %s %s %r>" % (self.id, self.type,
                                                   self.selector)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        conn = self.__dict__.get("_conn")
        if conn is not None:
            conn.close(join=False)

    def __iter__(self):
        return self

    def __next__(self):
        ev = self.next_event(None)
        if ev is None:
            raise StopIteration
        return ev

    @property
    def closed(self):
        return self._closed

    def _params(self):
        p = {"type": self.type, "selector": self.selector}
        if self.store is not None:
            p["store"] = self.store
        if self.persistent:
            p["name"] = self.name
        if self._max_in_flight is not None:
            p["max_in_flight"] = self._max_in_flight
        start = self._start_from
        if not self.persistent and self._first_checkpoint is not None:
            # Again after a reconnect: from the event after the last one
            # handed out, or from the original start.
            last = self.last_position
            start = (last if last is not None else self._first_checkpoint) + 1
        if start is not None:
            p["start_from"] = start
        return p

    def _subscribe(self, deadline, first=False, prefer=None):
        """Opens a connection and sends save_subscription, again after an
        ``unavailable`` answer (the store may be choosing a leader) until
        the deadline."""
        client = self._client
        s = client.settings
        if prefer is None:
            prefer = client._address_index
        attempt = 0
        while True:
            conn, index = client._open(deadline, buffer_max=self._buffer_max,
                                       prefer=prefer)
            try:
                resp = conn.call("save_subscription", self._params(),
                                 deadline)
            except _Lost:
                resp = None
            except BaseException:
                conn.close()
                raise
            if resp is not None and "error" not in resp:
                break
            conn.close()
            attempt += 1
            err = errors.error_from_response(resp) if resp is not None \
                else errors.Unavailable("connection lost while subscribing",
                                        local=True)
            if not (is_retryable_answer(err) or resp is None) \
                    or attempt > s.reconnect_attempts:
                raise err
            pause = backoff(s, attempt)
            if time.monotonic() + pause >= deadline:
                raise err
            time.sleep(pause)
            prefer = index + 1  # the next node may serve it
        result = resp["result"]
        with self._lock:
            if self._closed:
                conn.close()
                return
            self._conn, self._conn_index = conn, index
            self.id = result.get("subscription")
            self.checkpoint = result.get("checkpoint")
            if first:
                self._first_checkpoint = self.checkpoint
            else:
                self.reconnects += 1

    def _resubscribe(self, reason):
        log.info("cxesdb: subscription %s: %s; subscribing again", self.id,
                 reason)
        old = self._conn
        if old is not None:
            old.close()
        # Same node first (it may be back), then the others in turn.
        self._subscribe(time.monotonic()
                        + self._client.settings.resubscribe_timeout,
                        prefer=self._conn_index)

    def next_event(self, timeout=None):
        """Returns the next event dict, or None when ``timeout`` seconds
        (None: no limit) passed without one or the subscription is closed.
        Raises :class:`SubscriptionDropped` when the node removed the
        subscription, and the error of subscribing again when that
        failed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed:
            conn = self._conn
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            item = conn.take(left)
            if item is None:
                return None
            if item is _LOST:
                if self._closed:
                    return None
                self._resubscribe(conn.close_reason or "connection lost")
                continue
            method = item.get("method")
            params = item.get("params") or {}
            if method == "event":
                if params.get("subscription") != self.id:
                    continue
                ev = params.get("event") or {}
                pos = ev.get("position")
                if (not self.persistent and self.last_position is not None
                        and isinstance(pos, int)
                        and pos <= self.last_position):
                    continue  # already handed out before a reconnect
                if isinstance(pos, int):
                    self.last_position = pos
                return ev
            if method == "subscription_dropped" \
                    and params.get("subscription") == self.id:
                reason = params.get("reason")
                if reason in ("store_stopped", "unavailable",
                              "slow_consumer"):
                    self._resubscribe("dropped by the node: %s" % reason)
                    continue
                self.close()
                raise errors.SubscriptionDropped(
                    "the node dropped subscription %s: %s" % (self.id,
                                                              reason),
                    {"drop_reason": reason, "subscription": self.id,
                     "store": params.get("store")})
        return None

    def ack(self, event, *, wait=True):
        """Acknowledges ``event`` (an event dict or a position) and every
        earlier event delivered on this connection. With ``wait`` (default)
        returns the stored checkpoint once the node stored it; without,
        returns None at once. An ack whose connection was lost is dropped
        (returns None): the node delivers the events again after the
        reconnect, as at-least-once delivery promises."""
        position = event["position"] if isinstance(event, dict) else event
        conn = self._conn
        params = {"subscription": self.id, "position": position}
        if self.store is not None:
            params["store"] = self.store
        try:
            if not wait:
                conn.send_only("ack_event", params)
                return None
            resp = conn.call("ack_event", params, time.monotonic()
                             + self._client.settings.timeout)
        except _Lost:
            return None
        if "error" in resp:
            raise errors.error_from_response(resp)
        return resp["result"].get("checkpoint")

    def unsubscribe(self):
        """Sends ``unsubscribe``, waits for its answer and closes the
        subscription's connection; returns the node's answer."""
        conn = self._conn
        params = {"subscription": self.id}
        if self.store is not None:
            params["store"] = self.store
        try:
            resp = conn.call("unsubscribe", params, time.monotonic()
                             + self._client.settings.timeout)
        except _Lost:
            resp = {"result": {"unsubscribed": True}}
        finally:
            self.close()
        if "error" in resp:
            raise errors.error_from_response(resp)
        return resp["result"]

    def close(self):
        """Ends the subscription by closing its connection (the node ends a
        transient subscription with its connection, and hands a persistent
        one's unacknowledged events to its other subscribers). Iteration
        then stops."""
        with self._lock:
            self._closed = True
            conn = self._conn
        if conn is not None:
            conn.close()

