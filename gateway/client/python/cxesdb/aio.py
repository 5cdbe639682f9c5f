"""The asyncio client: the methods of :class:`cxesdb.Client` as coroutines.

::

    async with cxesdb.aio.Client("127.0.0.1", 7411) as c:
        await c.append("order-1", [{"event_type": "OrderPlaced", "data": {}}])
        async for ev in c.read_all(batch=1000):
            ...
        async with c.subscribe("by_stream", "$all", start_from="origin") as sub:
            async for ev in sub:
                ...

One connection per client carries every task's requests, pipelined;
subscriptions get a connection of their own. Reconnects, retries, errors and
limits are those of the sync client (docs/python.md). A client belongs to the
event loop it was first used on.
"""

import asyncio
import functools
import inspect
import itertools
import logging
import time

from . import errors
from ._api import Api
from ._wire import (Settings, backoff, decode, encode, frame,
                    is_retryable_answer, make_ssl_context, parse_addresses)

__all__ = ["Client", "Subscription", "connect"]

log = logging.getLogger("cxesdb")

_ids = itertools.count(1)
_LOST = object()


class _Lost(Exception):
    """The connection closed before the answer came (internal)."""


class _Connection:
    """One stream pair served by one reader task. Notifications go to
    ``on_notification`` when given, otherwise into a queue that ``take``
    empties; the reader stops reading while it holds ``buffer_max``."""

    def __init__(self, reader, writer, settings, buffer_max=None,
                 on_notification=None, name=""):
        self._reader = reader
        self._writer = writer
        self._settings = settings
        self._buffer_max = buffer_max
        self._on_notification = on_notification
        self.name = name
        self._pending = {}
        self._notes = asyncio.Queue()
        self._room = asyncio.Event()
        self._room.set()
        self.closed = False
        self.close_reason = None
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def call(self, method, params, deadline):
        if not isinstance(params, bytes):
            params = encode(method, params, self._settings.max_message_bytes)
        msg_id = next(_ids)
        line = frame(msg_id, params)
        if self.closed:
            raise _Lost()
        fut = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        try:
            await self._write(line, deadline)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise asyncio.TimeoutError()
            return await asyncio.wait_for(fut, remaining)
        except asyncio.TimeoutError:
            raise errors.Timeout(
                "no answer to %s within the client's timeout" % method,
                local=True) from None
        finally:
            self._pending.pop(msg_id, None)

    async def send_only(self, method, params):
        line = frame(next(_ids), encode(method, params,
                                        self._settings.max_message_bytes))
        await self._write(line, time.monotonic() + self._settings.timeout)

    async def _write(self, line, deadline):
        if self.closed:
            raise _Lost()
        try:
            self._writer.write(line)
            if (self._writer.transport.get_write_buffer_size()
                    > self._settings.send_buffer_bytes):
                await asyncio.wait_for(self._writer.drain(),
                                       max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise errors.Timeout("send buffer full until the deadline",
                                 local=True) from None
        except (ConnectionError, OSError, RuntimeError) as e:
            raise _Lost(str(e)) from None

    async def take(self, timeout):
        """The next notification, _LOST once the connection ended, or None
        when ``timeout`` (None: no limit) passes."""
        if self._notes.empty() and self.closed:
            return _LOST
        try:
            if timeout is None:
                item = await self._notes.get()
            else:
                item = await asyncio.wait_for(self._notes.get(),
                                              max(0.0, timeout))
        except asyncio.TimeoutError:
            return None
        if self._notes.qsize() <= (self._buffer_max or 0) // 2:
            self._room.set()
        return item

    async def _run(self):
        reason = "connection closed by the node"
        try:
            while True:
                try:
                    line = await self._reader.readline()
                except ValueError:
                    reason = "an answer longer than max_response_bytes"
                    break
                if not line.endswith(b"\n"):
                    break  # end of stream (maybe inside a line)
                try:
                    msg = decode(line)
                except ValueError:
                    log.warning("cxesdb: %s: a line that is not JSON",
                                self.name)
                    continue
                for m in (msg if isinstance(msg, list) else [msg]):
                    if isinstance(m, dict):
                        await self._dispatch(m)
        except asyncio.CancelledError:
            reason = self.close_reason or "closed by the client"
        except (ConnectionError, OSError) as e:
            reason = "connection failed: %s" % e
        except Exception as e:
            log.exception("cxesdb: reader of %s failed", self.name)
            reason = "reader failed: %r" % e
        finally:
            self._finish(reason)

    async def _dispatch(self, msg):
        if "id" in msg and ("result" in msg or "error" in msg):
            msg_id = msg["id"]
            fut = self._pending.pop(msg_id, None) \
                if isinstance(msg_id, int) else None
            if fut is not None and not fut.done():
                fut.set_result(msg)
            elif "error" in msg:
                log.warning("cxesdb: %s: an error nobody waits for: %s",
                            self.name, errors.error_from_response(msg))
            return
        if "method" not in msg:
            return
        if self._on_notification is not None:
            try:
                r = self._on_notification(msg)
                if inspect.isawaitable(r):
                    await r
            except Exception:
                log.exception("cxesdb: on_notification failed")
            return
        if self._buffer_max is None:
            return
        self._notes.put_nowait(msg)
        if self._notes.qsize() >= self._buffer_max:
            self._room.clear()
            await self._room.wait()  # stop reading until the app catches up

    def _finish(self, reason):
        if self.close_reason is None:
            self.close_reason = reason
        self.closed = True
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(_Lost())
        self._pending.clear()
        self._notes.put_nowait(_LOST)
        try:
            self._writer.close()
        except Exception:
            pass

    async def close(self, reason="closed by the client"):
        if self.close_reason is None:
            self.close_reason = reason
        self.closed = True
        self._task.cancel()
        try:
            await self._task
        except BaseException:
            pass


def _wrap(fn):
    @functools.wraps(fn)
    async def method(self, *args, **kwargs):
        return await fn(self, *args, **kwargs)
    return method


class Client(Api):
    """The asyncio twin of :class:`cxesdb.Client`: the same constructor
    arguments and methods, each a coroutine. It connects on first use (or
    with ``await client.connect()``, or ``async with``). ``on_notification``
    may be a function or a coroutine function."""

    def __init__(self, host="127.0.0.1", port=7411, *, token=None,
                 tls_ca=None, tls_cert=None, tls_key=None,
                 tls_server_name=None, addresses=None, on_notification=None,
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
        self._conn_lock = None  # made on first use, in the loop that uses it
        self._address_index = 0
        #: How often the client opened a new connection after losing one.
        self.reconnects = 0
        self._slots = None
        self._subscriptions = set()
        self._closed = False

    def __repr__(self):
        return "<cxesdb.aio.Client %s>" % ",".join(
            "%s:%d" % a for a in self.addresses)

    async def __aenter__(self):
        await self.connect()
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def connect(self):
        """Connects now (instead of on the first call); raises
        :class:`Unavailable` when no address answers."""
        await self._connection(time.monotonic() + self.settings.timeout)
        return self

    @property
    def connected_to(self):
        """The (host, port) of the current connection, or None."""
        conn = self._conn
        if conn is None or conn.closed:
            return None
        return self.addresses[self._address_index]

    async def close(self):
        """Closes the connection and every subscription of this client."""
        self._closed = True
        for sub in list(self._subscriptions):
            await sub.close()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _open(self, deadline, *, buffer_max=None, on_notification=None,
                    prefer=None):
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
                await asyncio.sleep(pause)
            index = (start + attempt) % n
            host, port = self.addresses[index]
            limit = min(s.connect_timeout, deadline - time.monotonic())
            if limit <= 0:
                break
            try:
                kw = {}
                if self._ssl is not None:
                    kw = {"ssl": self._ssl,
                          "server_hostname": self._server_name or host}
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        host, port, limit=s.max_response_bytes, **kw), limit)
            except (OSError, asyncio.TimeoutError) as e:
                last = e
                continue
            conn = _Connection(reader, writer, s, buffer_max=buffer_max,
                               on_notification=on_notification,
                               name="%s:%d" % (host, port))
            if self._token is not None:
                try:
                    resp = await conn.call(
                        "authenticate", {"token": self._token},
                        min(deadline, time.monotonic() + limit))
                except _Lost:
                    last = OSError("connection closed during authenticate")
                    continue
                except BaseException:
                    await conn.close()
                    raise
                if "error" in resp:
                    await conn.close()
                    raise errors.error_from_response(resp)
            return conn, index
        raise errors.Unavailable(
            "cannot connect to %s: %s" % (
                ", ".join("%s:%d" % a for a in self.addresses), last),
            local=True)

    async def _connection(self, deadline):
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        if self._conn_lock is None:
            self._conn_lock = asyncio.Lock()
        try:
            await asyncio.wait_for(self._conn_lock.acquire(),
                                   max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise errors.Timeout("waited too long for a connection",
                                 local=True) from None
        try:
            conn = self._conn
            if conn is not None and not conn.closed:
                return conn
            conn, index = await self._open(
                deadline, on_notification=self._on_notification)
            if self._conn is not None:
                self.reconnects += 1
            self._conn, self._address_index = conn, index
            return conn
        finally:
            self._conn_lock.release()

    async def _invoke(self, method, params, safe, transform=None):
        s = self.settings
        deadline = time.monotonic() + s.timeout
        body = encode(method, params, s.max_message_bytes)
        if self._slots is None:
            self._slots = asyncio.Semaphore(s.max_in_flight)
        try:
            await asyncio.wait_for(self._slots.acquire(), s.timeout)
        except asyncio.TimeoutError:
            raise errors.Timeout("max_in_flight requests were waiting",
                                 local=True) from None
        try:
            attempt = 0
            while True:
                conn = await self._connection(deadline)
                try:
                    resp = await conn.call(method, body, deadline)
                except _Lost:
                    if not safe:
                        raise errors.Timeout(
                            "the connection was lost before the answer to %s;"
                            " its outcome is unknown" % method,
                            local=True) from None
                    attempt += 1
                    if attempt > s.retry_attempts:
                        raise errors.Unavailable(
                            "the connection was lost %d times" % attempt,
                            local=True) from None
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
                await asyncio.sleep(pause)
        finally:
            self._slots.release()

    # --- methods that page or need a connection of their own ----------

    async def read_all(self, *, from_position=None, batch=1000,
                       direction="forward", store=None):
        """An async iterator over the store's events in position order; see
        :meth:`cxesdb.Client.read_all`."""
        pos = from_position
        while True:
            page = await self.read_all_page(from_position=pos, count=batch,
                                            direction=direction, store=store)
            events = page["events"]
            for ev in events:
                yield ev
            pos = page.get("next_position")
            if len(events) < batch or pos is None:
                return

    async def iter_events(self, stream, *, start=None, batch=1000,
                          direction="forward", store=None):
        """An async iterator over a stream's events; see
        :meth:`cxesdb.Client.iter_events`."""
        while True:
            events = await self.get_events(stream, start=start, count=batch,
                                           direction=direction, store=store)
            for ev in events:
                yield ev
            if len(events) < batch:
                return
            last = events[-1]["event_number"]
            start = last + 1 if direction == "forward" else last - 1
            if start < 0:
                return

    async def iter_streams(self, *, after=None, batch=10000, store=None):
        """An async iterator over every stream id of the store."""
        while True:
            page = await self.get_streams(after=after, limit=batch,
                                          store=store)
            for s in page["streams"]:
                yield s
            after = page.get("next_after")
            if after is None:
                return

    def subscribe(self, type, selector, *, name="transient", start_from=None,
                  max_in_flight=None, store=None):
        """Returns a :class:`Subscription`, to be awaited (``sub = await
        c.subscribe(...)``) or entered (``async with c.subscribe(...) as
        sub``); then ``async for ev in sub``. Same parameters and behaviour
        as :meth:`cxesdb.Client.subscribe`."""
        sub = Subscription(self, type, selector, name=name,
                           start_from=start_from, max_in_flight=max_in_flight,
                           store=store)
        return sub

    save_subscription = subscribe

    async def unsubscribe(self, subscription, *, store=None):
        """Ends a :class:`Subscription` (or a subscription id made on the
        shared connection with a raw ``call``)."""
        if isinstance(subscription, Subscription):
            return await subscription.unsubscribe()
        params = {"subscription": subscription}
        if store is not None:
            params["store"] = store
        return await self._invoke("unsubscribe", params, False)

    async def ack_event(self, subscription, position, *, store=None):
        """Acknowledges events of a :class:`Subscription` (or of a
        subscription id made on the shared connection) up to ``position``
        (a position or an event dict)."""
        if isinstance(subscription, Subscription):
            return await subscription.ack(position)
        if isinstance(position, dict):
            position = position["position"]
        params = {"subscription": subscription, "position": position}
        if store is not None:
            params["store"] = store
        return await self._invoke("ack_event", params, False)


# Every protocol method of Api as a real coroutine function, same docstring.
for _name, _fn in list(vars(Api).items()):
    if (callable(_fn) and not _name.startswith("_")
            and _name not in vars(Client)):
        setattr(Client, _name, _wrap(_fn))
del _name, _fn


async def connect(host="127.0.0.1", port=7411, **kwargs):
    """Creates a :class:`Client` and connects it."""
    return await Client(host, port, **kwargs).connect()


class Subscription:
    """The asyncio twin of :class:`cxesdb.Subscription`: ``async for``
    yields events; ``next_event``, ``ack``, ``unsubscribe`` and ``close`` are
    coroutines."""

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
        self._started = False
        self._closed = False

    def __repr__(self):
        return "<cxesdb.aio.Subscription %s %s %r>" % (self.id, self.type,
                                                       self.selector)

    def __await__(self):
        return self.start().__await__()

    async def start(self):
        """Subscribes (once); returns the subscription."""
        if not self._started:
            self._started = True
            self._client._subscriptions.add(self)
            await self._subscribe(
                time.monotonic() + self._client.settings.timeout, first=True)
        return self

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.close()

    def __aiter__(self):
        return self

    async def __anext__(self):
        ev = await self.next_event(None)
        if ev is None:
            raise StopAsyncIteration
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
            last = self.last_position
            start = (last if last is not None else self._first_checkpoint) + 1
        if start is not None:
            p["start_from"] = start
        return p

    async def _subscribe(self, deadline, first=False, prefer=None):
        client = self._client
        s = client.settings
        if prefer is None:
            prefer = client._address_index
        attempt = 0
        while True:
            conn, index = await client._open(
                deadline, buffer_max=self._buffer_max, prefer=prefer)
            try:
                resp = await conn.call("save_subscription", self._params(),
                                       deadline)
            except _Lost:
                resp = None
            except BaseException:
                await conn.close()
                raise
            if resp is not None and "error" not in resp:
                break
            await conn.close()
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
            await asyncio.sleep(pause)
            prefer = index + 1
        result = resp["result"]
        if self._closed:
            await conn.close()
            return
        self._conn, self._conn_index = conn, index
        self.id = result.get("subscription")
        self.checkpoint = result.get("checkpoint")
        if first:
            self._first_checkpoint = self.checkpoint
        else:
            self.reconnects += 1

    async def _resubscribe(self, reason):
        log.info("cxesdb: subscription %s: %s; subscribing again", self.id,
                 reason)
        if self._conn is not None:
            await self._conn.close()
        await self._subscribe(
            time.monotonic() + self._client.settings.resubscribe_timeout,
            prefer=self._conn_index)

    async def next_event(self, timeout=None):
        """Returns the next event dict, or None when ``timeout`` seconds
        passed without one or the subscription is closed."""
        await self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed:
            conn = self._conn
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            item = await conn.take(left)
            if item is None:
                return None
            if item is _LOST:
                if self._closed:
                    return None
                await self._resubscribe(conn.close_reason or "connection lost")
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
                    continue
                if isinstance(pos, int):
                    self.last_position = pos
                return ev
            if method == "subscription_dropped" \
                    and params.get("subscription") == self.id:
                reason = params.get("reason")
                if reason in ("store_stopped", "unavailable",
                              "slow_consumer"):
                    await self._resubscribe("dropped by the node: %s"
                                            % reason)
                    continue
                await self.close()
                raise errors.SubscriptionDropped(
                    "the node dropped subscription %s: %s" % (self.id,
                                                              reason),
                    {"drop_reason": reason, "subscription": self.id,
                     "store": params.get("store")})
        return None

    async def ack(self, event, *, wait=True):
        """Acknowledges ``event`` (an event dict or a position); see
        :meth:`cxesdb.Subscription.ack`."""
        await self.start()
        position = event["position"] if isinstance(event, dict) else event
        params = {"subscription": self.id, "position": position}
        if self.store is not None:
            params["store"] = self.store
        try:
            if not wait:
                await self._conn.send_only("ack_event", params)
                return None
            resp = await self._conn.call(
                "ack_event", params,
                time.monotonic() + self._client.settings.timeout)
        except _Lost:
            return None
        if "error" in resp:
            raise errors.error_from_response(resp)
        return resp["result"].get("checkpoint")

    async def unsubscribe(self):
        """Sends ``unsubscribe``, waits for its answer and closes the
        subscription's connection."""
        await self.start()
        params = {"subscription": self.id}
        if self.store is not None:
            params["store"] = self.store
        try:
            resp = await self._conn.call(
                "unsubscribe", params,
                time.monotonic() + self._client.settings.timeout)
        except _Lost:
            resp = {"result": {"unsubscribed": True}}
        finally:
            await self.close()
        if "error" in resp:
            raise errors.error_from_response(resp)
        return resp["result"]

    async def close(self):
        """Ends the subscription by closing its connection."""
        self._closed = True
        self._client._subscriptions.discard(self)
        if self._conn is not None:
            await self._conn.close()
