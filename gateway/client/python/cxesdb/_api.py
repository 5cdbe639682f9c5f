"""The protocol's methods, written once for the sync and the asyncio client.

Each method builds its ``params`` and hands them to ``self._invoke(method,
params, safe, transform)``: the sync client returns the transformed result,
the asyncio client returns a coroutine (cxesdb.aio wraps every method in an
``async def``). ``safe`` says whether the request may be sent again after its
connection was lost: reads, and appends whose events all carry an id.
"""

import base64
import os
import time
import uuid

__all__ = ["Api", "READ_METHODS", "new_event_id", "prepare_events",
           "is_safe", "event_bytes"]

# Methods that change nothing: repeating them after a lost answer is harmless.
READ_METHODS = frozenset((
    "health", "cluster_status", "list_stores", "get_store_status",
    "get_store_config", "get_events", "get_version", "get_streams",
    "read_all", "read_snapshot", "list_snapshots", "get_subscriptions",
    "get_stream_metadata", "list_backups",
))

# Writes whose repetition answers as the first did (protocol.md, "Stream
# lifecycle and retention"), or does nothing more: safe to send again after
# a lost answer.
REPEATABLE_METHODS = frozenset((
    "delete_stream", "truncate_stream", "set_stream_metadata",
    "scavenge_store",
))

EXPECTED_VERSIONS = ("any", "no_stream", "stream_exists")


def new_event_id():
    """Returns a new UUIDv7 string (time-ordered, like the node's own)."""
    ms = time.time_ns() // 1_000_000
    raw = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    raw[6] = 0x70 | (raw[6] & 0x0F)  # version 7
    raw[8] = 0x80 | (raw[8] & 0x3F)  # RFC 4122 variant
    return str(uuid.UUID(bytes=bytes(raw)))


def prepare_events(events):
    """Returns the events to send: copies of the given dicts, each with an
    ``event_id`` (a new UUIDv7 where it had none) and ``bytes`` data turned
    into base64 with ``content_type`` ``application/octet-stream``."""
    if isinstance(events, (dict, str, bytes)):
        raise TypeError("events must be a list of event dicts")
    out = []
    for ev in events:
        if not isinstance(ev, dict):
            raise TypeError("every event must be a dict, not %s"
                            % type(ev).__name__)
        ev = dict(ev)
        if ev.get("event_id") is None:
            ev["event_id"] = new_event_id()
        elif isinstance(ev["event_id"], uuid.UUID):
            ev["event_id"] = str(ev["event_id"])
        data = ev.get("data")
        if isinstance(data, (bytes, bytearray, memoryview)):
            ev["data"] = base64.b64encode(bytes(data)).decode("ascii")
            ev.setdefault("content_type", "application/octet-stream")
        out.append(ev)
    return out


def event_bytes(event):
    """Returns the data of a binary event (``application/octet-stream``) as
    bytes."""
    return base64.b64decode(event["data"])


def is_safe(method, params):
    """True when a request may be sent again after a lost answer: reads, the
    stream lifecycle writes and scavenge_store (a repetition answers as the
    first did, or removes nothing more), and appends whose every event has
    an ``event_id`` (the node answers a repeated batch with its original
    result)."""
    if method in READ_METHODS or method in REPEATABLE_METHODS:
        return True
    if method == "append_events":
        events = params.get("events")
        return isinstance(events, list) and all(
            isinstance(e, dict) and e.get("event_id") is not None
            for e in events)
    return False


def _params(**kw):
    """The params object: keyword arguments that are not None."""
    return {k: v for k, v in kw.items() if v is not None}


def _field(name):
    return lambda result: result[name]


class Api:
    """Every method of docs/protocol.md as a named function.

    ``store`` is optional everywhere: without it the node's default store is
    used. Errors the node answers are raised as subclasses of
    :class:`cxesdb.Error`.
    """

    def _invoke(self, method, params, safe, transform=None):
        raise NotImplementedError

    # --- raw -------------------------------------------------------------

    def call(self, method, /, **params):
        """Calls any method with the given params and returns the raw
        ``result`` object. Parameters that are None are left out (the node
        treats them as absent). The request is repeated after a lost
        connection only when it is a read, or an append whose every event
        has an ``event_id``; events are sent exactly as given."""
        params = _params(**params)
        return self._invoke(method, params, is_safe(method, params))

    # --- cluster and node ------------------------------------------------

    def health(self):
        """Returns ``{"status": "ok", "node": NAME}`` from the node this
        client is connected to."""
        return self._invoke("health", {}, True)

    def cluster_status(self):
        """Returns the cluster as the answering node sees it:
        ``{"node", "nodes": [{"name", "address", "status", "self"}],
        "stores": {ID: {"leader", "members", "term", "commit_index"}}}``."""
        return self._invoke("cluster_status", {}, True)

    def authenticate(self, token):
        """Authenticates the connection with ``token`` (protocol section 8)
        and returns the node's answer. The client sends it by itself after
        every connect when it was made with ``token=``; call this only to
        switch tokens, and note that a reconnect uses the token given to the
        constructor. A wrong token raises :class:`Unauthorized`; a node
        without ``--auth-file`` answers ``{"authenticated": true, "user":
        None, "role": "admin", "stores": {}}`` whatever the token."""
        return self._invoke("authenticate", {"token": token}, False)

    def leave_cluster(self, node):
        """Extension for operators: makes the named node leave the cluster;
        returns ``{"left": true}`` once the catalog recorded it. Raises
        :class:`NotFound` (``what`` ``"node"``) for a node that is not a
        member, :class:`Forbidden` for the last node."""
        return self._invoke("leave_cluster", {"node": node}, False)

    # --- stores ----------------------------------------------------------

    def create_store(self, store, config=None, *, template=None):
        """Creates a store and returns ``{"store", "status", "config"}`` once
        it accepts writes. ``config`` may have ``timeout_ms``,
        ``replication_factor``, ``description``, ``tags`` and
        ``retention``; ``template`` names a store template of the node's
        config file that ``config`` then overrides key by key. Raises
        :class:`AlreadyExists` for an existing store, :class:`InvalidParams`
        for a bad id (``field`` ``"store"``) or config (``"config.<key>"``).
        Not repeated after a lost connection (its outcome is then unknown:
        :class:`Timeout`)."""
        return self._invoke("create_store",
                            _params(store=store, config=config,
                                    template=template), False)

    def remove_store(self, store):
        """Removes a store and its data on every replica; returns
        ``{"removed": true}``. Raises :class:`NotFound` for a missing store
        and :class:`Forbidden` for the default store."""
        return self._invoke("remove_store", {"store": store}, False)

    def list_stores(self):
        """Returns ``{ID: {"status", "config"}}`` for every store."""
        return self._invoke("list_stores", {}, True, _field("stores"))

    def get_store_status(self, store=None):
        """Returns the store's status object: ``status`` (``starting``,
        ``running``, ``stopping`` or ``unavailable``), its figures from its
        leader (``events``, ``streams``, ``bytes``, ``last_position``,
        ``applied_index``; ``None`` when no leader answered in time),
        ``leader`` and ``members`` (node names)."""
        return self._invoke("get_store_status", _params(store=store), True)

    def get_store_config(self, store=None):
        """Returns the store's config dict (``timeout_ms``,
        ``replication_factor``, ``description``, ``tags``, ``data_dir``,
        ``created_at``)."""
        return self._invoke("get_store_config", _params(store=store), True,
                            _field("config"))

    # --- streams ---------------------------------------------------------

    def append_events(self, stream, events, *, expected_version="any",
                      store=None):
        """Appends ``events`` (a list of dicts with ``event_type`` and
        ``data``, optionally ``metadata``, ``event_id``, ``content_type``) to
        ``stream`` atomically and returns ``{"version", "position"}``: the
        stream's last event number and the last event's position.

        ``expected_version`` is ``"any"`` (default), ``"no_stream"``,
        ``"stream_exists"`` or an integer >= -1 (the stream's last event
        number; -1: no events). A mismatch raises
        :class:`WrongExpectedVersion` (with ``current_version``).

        The client gives every event without ``event_id`` a new UUIDv7, so
        that the append may be repeated after a lost connection: the node
        answers a repeated batch with its original result. ``bytes`` data is
        sent as base64 with ``content_type`` ``application/octet-stream``.
        The given dicts are not modified."""
        events = prepare_events(events)
        return self._invoke("append_events", _params(
            store=store, stream=stream, expected_version=expected_version,
            events=events), True)

    append = append_events

    def get_events(self, stream, *, start=None, count=None, direction=None,
                   store=None):
        """Returns a list of the stream's events. Forward (default) from
        ``start`` (default 0), backward from ``start`` (default: the last
        event) down; at most ``count`` (default 100, at most 10000). A stream
        without events gives ``[]``."""
        return self._invoke("get_events", _params(
            store=store, stream=stream, start=start, count=count,
            direction=direction), True, _field("events"))

    def get_version(self, stream, *, store=None):
        """Returns the stream's last event number, -1 when it has no
        events."""
        return self._invoke("get_version", _params(store=store, stream=stream),
                            True, _field("version"))

    def get_streams(self, *, after=None, limit=None, store=None):
        """Returns one page of stream ids in byte order:
        ``{"streams": [...], "next_after"}``; pass ``next_after`` as
        ``after`` for the next page (it is None at the end). ``limit``
        defaults to 10000. :meth:`iter_streams` pages for you."""
        return self._invoke("get_streams", _params(
            store=store, after=after, limit=limit), True)

    def read_all_page(self, *, from_position=None, count=None, direction=None,
                      store=None):
        """The protocol's ``read_all``: returns one page of the store's
        events in position order, ``{"events": [...], "next_position"}``.
        :meth:`read_all` pages for you."""
        return self._invoke("read_all", _params(
            store=store, from_position=from_position, count=count,
            direction=direction), True)

    # --- stream lifecycle and retention -----------------------------------

    def delete_stream(self, stream, *, expected_version=None, hard=None,
                      store=None):
        """Deletes a stream: soft by default (reads show no events until an
        append recreates it, numbered after the deleted ones), for good with
        ``hard=True`` (reads and appends then raise :class:`StreamDeleted`).
        Returns ``{"deleted": true, "version"}``. ``expected_version`` as in
        :meth:`append_events`. A repeated delete answers as the first did,
        so it is sent again after a lost connection."""
        return self._invoke("delete_stream", _params(
            store=store, stream=stream, expected_version=expected_version,
            hard=hard), True)

    def truncate_stream(self, stream, before, *, store=None):
        """Removes the stream's events numbered below ``before`` (never
        moves back); returns ``{"truncated": true, "first"}``, the lowest
        readable event number."""
        return self._invoke("truncate_stream", _params(
            store=store, stream=stream, before=before), True)

    def set_stream_metadata(self, stream, *, max_count=None, max_age_s=None,
                            custom=None, store=None):
        """Sets the stream's metadata, replacing what it had: ``max_count``
        (keep the newest N events), ``max_age_s`` (hide events older than
        that) and ``custom`` (a dict kept for the application). Returns
        ``{"metadata": {...}}``."""
        return self._invoke("set_stream_metadata", _params(
            store=store, stream=stream, max_count=max_count,
            max_age_s=max_age_s, custom=custom), True, _field("metadata"))

    def get_stream_metadata(self, stream, *, store=None):
        """Returns the stream's metadata dict: the keys that are set among
        ``max_count``, ``max_age_s`` and ``custom`` (``{}`` when none is)."""
        return self._invoke("get_stream_metadata", _params(
            store=store, stream=stream), True, _field("metadata"))

    def scavenge_store(self, *, store=None):
        """Deletes removed events from the disk and returns the space to the
        filesystem, in small steps paced by the node's
        ``--scavenge-throttle-percent``; returns ``{"removed_events",
        "reclaimed_bytes"}`` once nothing is left. A large store takes a
        while: give the client a ``timeout`` to match."""
        return self._invoke("scavenge_store", _params(store=store), True)

    # --- backup and restore --------------------------------------------

    def backup_store(self, name, *, store=None):
        """Takes a consistent copy of the store, named ``name``, in the
        node's backup directory while it serves; returns ``{"backup",
        "bytes", "last_position"}``. Raises :class:`AlreadyExists` for a
        name in use."""
        return self._invoke("backup_store", _params(store=store, name=name),
                            False)

    def list_backups(self):
        """Returns the list of the node's backups, each ``{"name", "store",
        "bytes", "last_position", "created"}``."""
        return self._invoke("list_backups", {}, True, _field("backups"))

    def restore_store(self, store, backup):
        """Creates the new store ``store`` from the backup named ``backup``,
        replicated like any other, and returns ``{"store", "status",
        "config"}`` once it runs. Raises :class:`AlreadyExists` when the
        store exists, :class:`NotFound` (``what`` ``"backup"``) for an
        unknown backup."""
        return self._invoke("restore_store",
                            {"store": store, "backup": backup}, False)

    # --- snapshots -------------------------------------------------------

    def record_snapshot(self, source_uuid, stream_uuid, version, data, *,
                        metadata=None, source_type=None, store=None):
        """Records a snapshot under (``source_uuid``, ``stream_uuid``,
        ``version``), replacing one with the same key; returns
        ``{"recorded": true}``."""
        return self._invoke("record_snapshot", _params(
            store=store, source_uuid=source_uuid, stream_uuid=stream_uuid,
            version=version, data=data, metadata=metadata,
            source_type=source_type) | {"data": data}, False)

    def read_snapshot(self, source_uuid, stream_uuid, *, version=None,
                      store=None):
        """Returns the snapshot dict (``source_uuid``, ``stream_uuid``,
        ``version``, ``source_type``, ``data``, ``metadata``, ``created``,
        ``created_epoch``) with that version, or the highest version when
        ``version`` is None. Raises :class:`NotFound` (``what``
        ``"snapshot"``) when there is none."""
        return self._invoke("read_snapshot", _params(
            store=store, source_uuid=source_uuid, stream_uuid=stream_uuid,
            version=version), True, _field("snapshot"))

    def delete_snapshot(self, source_uuid, stream_uuid, version, *,
                        store=None):
        """Deletes one snapshot; returns ``{"deleted": true}``. Raises
        :class:`NotFound` when it does not exist."""
        return self._invoke("delete_snapshot", _params(
            store=store, source_uuid=source_uuid, stream_uuid=stream_uuid,
            version=version), False)

    def list_snapshots(self, *, source_uuid=None, stream_uuid=None,
                       store=None):
        """Returns the list of snapshots matching the given keys (both
        optional), ordered by ``source_uuid``, ``stream_uuid``,
        ``version``."""
        return self._invoke("list_snapshots", _params(
            store=store, source_uuid=source_uuid, stream_uuid=stream_uuid),
            True, _field("snapshots"))

    # --- subscriptions (those that need no connection of their own) ------

    def remove_subscription(self, type, selector, name, *, store=None):
        """Removes a persistent subscription (its definition and
        checkpoint); its subscribers get ``subscription_dropped`` with
        reason ``removed``. Returns ``{"removed": true}``; raises
        :class:`NotFound` when none has that name, type and selector."""
        return self._invoke("remove_subscription", _params(
            store=store, type=type, selector=selector, name=name), False)

    def get_subscriptions(self, *, store=None):
        """Returns the list of the store's subscriptions, each a dict with
        ``subscription``, ``name``, ``type``, ``selector``, ``persistent``,
        ``checkpoint``, ``subscribers`` (connections of the answering node)
        and ``lag``."""
        return self._invoke("get_subscriptions", _params(store=store), True,
                            _field("subscriptions"))
