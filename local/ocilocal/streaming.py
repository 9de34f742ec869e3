"""OCI Streaming: the messages API and the admin reads the SDK needs.

Paths, query parameters and JSON fields follow the SDK's StreamClient and
StreamAdminClient (API version 20180418). Cursors are base64 JSON with an HMAC,
valid for five minutes like OCI's. Consumer groups split a stream's partitions
among their live instances; an instance stays live while it reads, commits or
heartbeats within its `timeoutInMs`.

Streams and stream pools are CREATING, then ACTIVE, for a moment after they
are created, and DELETING, then DELETED, after they are deleted; a deleted
stream's messages API answers 404. Messages older than the stream's retention
(or `--retention-seconds`) are removed before each use of the stream, and a
cursor pointing before the oldest kept message is refused with 400. With
`--enforce-limits`, GetMessages and PutMessages are throttled as OCI throttles
them (see `ocilocal.limits`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from typing import Any

from aiohttp import web

from ocilocal.context import Cloud, new_ocid
from ocilocal.errors import BadRequest, Conflict, NotFound, TooManyRequests
from ocilocal.limits import StreamLimits
from ocilocal.policies import requires
from ocilocal.storage import Row, Storage, now_ms
from ocilocal.wire import format_time, json_reply, query_int, read_fields

BASE = "/20180418"
CURSOR_TTL_SECONDS = 5 * 60
# NOTE: OCI takes seconds to minutes to create or delete a stream; a short
# transition keeps the states visible to `--wait-for-state` without slowing tests.
LIFECYCLE_TRANSITION_MS = 500
GONE_STATES = ("DELETING", "DELETED")
MAX_KEY_BYTES = 256
MAX_REQUEST_BYTES = 1024 * 1024
MAX_GET_LIMIT = 10000
MAX_LIST_LIMIT = 50
MAX_PARTITIONS = 200
DEFAULT_RETENTION_HOURS = 24
MIN_RETENTION_HOURS = 24
MAX_RETENTION_HOURS = 168
DEFAULT_GROUP_TIMEOUT_MS = 30000
# the SDKs declare timeoutInMs a 32-bit int
MAX_GROUP_TIMEOUT_MS = 2**31 - 1
CURSOR_TYPES = {"AT_OFFSET", "AFTER_OFFSET", "AT_TIME", "LATEST", "TRIM_HORIZON"}
GROUP_CURSOR_TYPES = {"AT_TIME", "LATEST", "TRIM_HORIZON"}


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition a key always lands on (stable across restarts)."""
    digest = hashlib.sha256(key).digest()
    return int.from_bytes(digest[:8], "big") % partitions


def decode_base64(text: Any, what: str) -> bytes:
    """Strict base64 decoding, or 400 naming the field."""
    if not isinstance(text, str):
        raise BadRequest(f"{what} must be a base64 string.")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"{what} is not valid base64.") from exc


def encode_base64(data: bytes | None) -> str | None:
    """Bytes as base64 text (None stays None)."""
    return None if data is None else base64.b64encode(data).decode()


def lifecycle_state(row: Row) -> str:
    """A stream's or pool's state now: CREATING and DELETING pass after a moment."""
    state = row["lifecycle_state"]
    settled = now_ms() - row["state_changed_at"] >= LIFECYCLE_TRANSITION_MS
    if state == "CREATING" and settled:
        return "ACTIVE"
    if state == "DELETING" and settled:
        return "DELETED"
    return state


def stream_target(service: Streaming, request: web.Request) -> dict[str, str]:
    """The policy attributes of the stream a request names."""
    stream = service.storage.stream(request.match_info["streamId"])
    if stream is None:
        raise NotFound("Stream not found or not authorized.")
    return {
        "target.stream.id": stream["id"],
        "target.streampool.id": stream["stream_pool_id"],
        "target.compartment.id": stream["compartment_id"],
    }


def pool_target(service: Streaming, request: web.Request) -> dict[str, str]:
    """The policy attributes of the stream pool a request names."""
    pool = service.storage.stream_pool(request.match_info["streamPoolId"])
    if pool is None:
        raise NotFound("Stream pool not found or not authorized.")
    return {
        "target.streampool.id": pool["id"],
        "target.compartment.id": pool["compartment_id"],
    }


def compartment_target(service: Any, request: web.Request) -> dict[str, str]:
    """The policy attributes of a list or create: the compartment asked about."""
    return {"target.compartment.id": request.query.get("compartmentId", "")}


class CursorCodec:
    """Opaque cursors: base64 JSON plus an HMAC so clients cannot forge them."""

    def __init__(self, key: bytes, *, ttl_seconds: float = CURSOR_TTL_SECONDS) -> None:
        self.key = key
        self.ttl_ms = int(ttl_seconds * 1000)

    def encode(self, payload: dict[str, Any]) -> str:
        """A cursor string valid for five minutes (the TTL) from now."""
        payload = {**payload, "exp": now_ms() + self.ttl_ms}
        body = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
        return f"{body}.{self._sign(body)}"

    def decode(self, cursor: str | None) -> dict[str, Any]:
        """The payload of a valid, unexpired cursor, or 400."""
        if not cursor:
            raise BadRequest("The cursor parameter is required.")
        body, _, signature = cursor.rpartition(".")
        # NOTE: cursors made here are ASCII; compare_digest refuses other text.
        if not body or not cursor.isascii():
            raise BadRequest("The cursor is not valid.")
        if not hmac.compare_digest(signature, self._sign(body)):
            raise BadRequest("The cursor is not valid.")

        payload = json.loads(base64.urlsafe_b64decode(body))
        if payload["exp"] <= now_ms():
            raise BadRequest("The cursor has expired; create a new one.")
        return payload

    def _sign(self, body: str) -> str:
        mac = hmac.new(self.key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:18]).decode()


class Streaming:
    """The Streaming service: routes under /20180418."""

    def __init__(
        self,
        cloud: Cloud,
        *,
        retention_seconds: float | None = None,
        enforce_limits: bool = False,
        cursor_ttl_seconds: float = CURSOR_TTL_SECONDS,
    ) -> None:
        self.cloud = cloud
        self.storage: Storage = cloud.require_storage()
        key = self.storage.get_meta("cursor_key")
        if key is None:
            key = secrets.token_hex(32)
            self.storage.set_meta("cursor_key", key)
        self.cursors = CursorCodec(bytes.fromhex(key), ttl_seconds=cursor_ttl_seconds)
        self.retention_seconds = retention_seconds
        self.limits = StreamLimits(enabled=enforce_limits)
        self.round_robin: dict[str, int] = {}
        # NOTE: work requests live in memory only; they describe a transition
        # that lasts under a second, so none outlives a restart in a useful way.
        self.work_requests: dict[str, dict[str, Any]] = {}

    def add_routes(self, app: web.Application) -> None:
        """Register the Streaming routes."""
        streams = f"{BASE}/streams/{{streamId}}"
        app.router.add_post(f"{streams}/messages", self.put_messages)
        app.router.add_get(f"{streams}/messages", self.get_messages)
        app.router.add_post(f"{streams}/cursors", self.create_cursor)
        app.router.add_post(f"{streams}/groupCursors", self.create_group_cursor)
        app.router.add_post(f"{streams}/commit", self.consumer_commit)
        app.router.add_post(f"{streams}/heartbeat", self.consumer_heartbeat)
        app.router.add_get(f"{streams}/groups/{{groupName}}", self.get_group)
        app.router.add_put(f"{streams}/groups/{{groupName}}", self.update_group)
        app.router.add_get(streams, self.get_stream)
        app.router.add_delete(streams, self.delete_stream)
        app.router.add_get(f"{BASE}/streams", self.list_streams)
        app.router.add_post(f"{BASE}/streams", self.create_stream)
        pools = f"{BASE}/streampools"
        app.router.add_get(f"{pools}/{{streamPoolId}}", self.get_pool)
        app.router.add_delete(f"{pools}/{{streamPoolId}}", self.delete_pool)
        app.router.add_get(pools, self.list_pools)
        app.router.add_post(pools, self.create_pool)
        app.router.add_get(
            f"{BASE}/workRequests/{{workRequestId}}", self.get_work_request
        )

    async def start(self) -> None:
        """Nothing to start: state lives in storage."""

    async def stop(self) -> None:
        """Nothing to stop."""

    # admin

    def ensure_pool(self, name: str) -> Row:
        """The stream pool called `name`, created if missing."""
        for pool in self.storage.stream_pools():
            if pool["name"] == name:
                return pool
        pool_id = new_ocid("streampool")
        return self.storage.create_stream_pool(pool_id, name, self.cloud.compartment_id)

    def ensure_stream(self, name: str, *, partitions: int, pool_id: str) -> Row:
        """The stream called `name`, created if missing."""
        for stream in self.storage.streams():
            if stream["name"] == name:
                return stream
        return self.storage.create_stream(
            new_ocid("stream"),
            name,
            stream_pool_id=pool_id,
            compartment_id=self.cloud.compartment_id,
            partitions=partitions,
        )

    def stream_json(self, stream: Row, *, summary: bool = False) -> dict[str, Any]:
        """A stream in the shape of the SDK's Stream (or StreamSummary)."""
        body = {
            "id": stream["id"],
            "name": stream["name"],
            "partitions": stream["partitions"],
            "compartmentId": stream["compartment_id"],
            "streamPoolId": stream["stream_pool_id"],
            "lifecycleState": lifecycle_state(stream),
            "timeCreated": format_time(stream["time_created"]),
            "messagesEndpoint": self.cloud.endpoint,
            "freeformTags": {},
            "definedTags": {},
        }
        if not summary:
            body["retentionInHours"] = stream["retention_in_hours"]
        return body

    def pool_json(self, pool: Row) -> dict[str, Any]:
        """A stream pool in the shape of the SDK's StreamPool."""
        return {
            "id": pool["id"],
            "name": pool["name"],
            "compartmentId": pool["compartment_id"],
            "lifecycleState": lifecycle_state(pool),
            "timeCreated": format_time(pool["time_created"]),
            "isPrivate": False,
            "endpointFqdn": self.cloud.endpoint.removeprefix("http://"),
            "kafkaSettings": {},
            "freeformTags": {},
            "definedTags": {},
        }

    def _start_work(
        self, operation: str, entity_type: str, resource: Row, action: str
    ) -> dict[str, str]:
        """Record a work request for a create or delete; its reply header."""
        work_id = new_ocid("streamworkrequest")
        self.work_requests[work_id] = {
            "operation": operation,
            "entity_type": entity_type,
            "resource_id": resource["id"],
            "compartment_id": resource["compartment_id"],
            "action": action,
            "accepted": now_ms(),
        }
        return {"opc-work-request-id": work_id}

    async def get_work_request(self, request: web.Request) -> web.Response:
        """GetWorkRequest: IN_PROGRESS while the resource moves, then SUCCEEDED."""
        work_id = request.match_info["workRequestId"]
        work = self.work_requests.get(work_id)
        if work is None:
            raise NotFound("Work request not found or not authorized.")
        finished = work["accepted"] + LIFECYCLE_TRANSITION_MS
        done = now_ms() >= finished
        return json_reply(
            {
                "id": work_id,
                "operationType": work["operation"],
                "status": "SUCCEEDED" if done else "IN_PROGRESS",
                "compartmentId": work["compartment_id"],
                "resources": [
                    {
                        "entityType": work["entity_type"],
                        "actionType": work["action"] if done else "IN_PROGRESS",
                        "identifier": work["resource_id"],
                        "entityUri": None,
                    }
                ],
                "percentComplete": 100.0 if done else 50.0,
                "timeAccepted": format_time(work["accepted"]),
                "timeStarted": format_time(work["accepted"]),
                "timeFinished": format_time(finished) if done else None,
            }
        )

    def _stream(self, request: web.Request) -> Row:
        """The live stream a messages call names, its expired messages removed."""
        stream = self._any_stream(request)
        if lifecycle_state(stream) in GONE_STATES:
            raise NotFound("Stream not found or not authorized.")
        retention_ms = (
            self.retention_seconds * 1000
            if self.retention_seconds is not None
            else stream["retention_in_hours"] * 3600 * 1000
        )
        self.storage.purge_messages(
            stream["id"], stream["partitions"], now_ms() - int(retention_ms)
        )
        return stream

    def _any_stream(self, request: web.Request) -> Row:
        stream = self.storage.stream(request.match_info["streamId"])
        if stream is None:
            raise NotFound("Stream not found or not authorized.")
        return stream

    @requires("read", "streams", stream_target)
    async def get_stream(self, request: web.Request) -> web.Response:
        """GetStream, in any lifecycle state."""
        return json_reply(self.stream_json(self._any_stream(request)))

    @requires("manage", "streams", stream_target)
    async def delete_stream(self, request: web.Request) -> web.Response:
        """DeleteStream: DELETING, then DELETED; its messages API answers 404.

        A stream already DELETING or DELETED is no longer there to delete:
        404, as the SDK documents a stream inaccessible from DELETING on.
        """
        stream = self._any_stream(request)
        if lifecycle_state(stream) in GONE_STATES:
            raise NotFound("Stream not found or not authorized.")

        self.storage.set_lifecycle_state("stream", stream["id"], "DELETING")
        headers = self._start_work("DELETE_STREAM", "stream", stream, "DELETED")
        return web.Response(status=202, headers=headers)

    @requires("inspect", "streams", compartment_target)
    async def list_streams(self, request: web.Request) -> web.Response:
        """ListStreams, filtered by the query parameters the SDK sends."""
        query = request.query
        wanted = {
            "compartment_id": query.get("compartmentId"),
            "stream_pool_id": query.get("streamPoolId"),
            "id": query.get("id"),
            "name": query.get("name"),
        }
        rows = [
            self.stream_json(row, summary=True)
            for row in self.storage.streams()
            if all(value in (None, row[field]) for field, value in wanted.items())
        ]
        state = query.get("lifecycleState")
        if state:
            rows = [row for row in rows if row["lifecycleState"] == state.upper()]
        limit = query_int(
            request, "limit", len(rows), minimum=1, maximum=MAX_LIST_LIMIT
        )
        return json_reply(rows[:limit])

    @requires("manage", "streams", compartment_target)
    async def create_stream(self, request: web.Request) -> web.Response:
        """CreateStream in the default pool, or the pool given: CREATING first."""
        fields = await read_fields(request)
        name = fields.required_string("name")
        partitions = fields.required_integer(
            "partitions", minimum=1, maximum=MAX_PARTITIONS
        )
        retention = fields.integer(
            "retentionInHours",
            default=DEFAULT_RETENTION_HOURS,
            minimum=MIN_RETENTION_HOURS,
            maximum=MAX_RETENTION_HOURS,
        )
        compartment_id = fields.string("compartmentId") or self.cloud.compartment_id
        pool_id = fields.string("streamPoolId")

        if not pool_id:
            pool_id = self.ensure_pool("DefaultPool")["id"]
        pool = self.storage.stream_pool(pool_id)
        if pool is None or lifecycle_state(pool) in GONE_STATES:
            raise NotFound("Stream pool not found or not authorized.")
        stream = self.storage.create_stream(
            new_ocid("stream"),
            name,
            stream_pool_id=pool_id,
            compartment_id=compartment_id,
            partitions=partitions,
            retention_in_hours=retention,
            state="CREATING",
        )
        headers = self._start_work("CREATE_STREAM", "stream", stream, "CREATED")
        return json_reply(self.stream_json(stream), headers=headers)

    @requires("read", "stream-pools", pool_target)
    async def get_pool(self, request: web.Request) -> web.Response:
        """GetStreamPool."""
        pool = self.storage.stream_pool(request.match_info["streamPoolId"])
        if pool is None:
            raise NotFound("Stream pool not found or not authorized.")
        return json_reply(self.pool_json(pool))

    @requires("inspect", "stream-pools", compartment_target)
    async def list_pools(self, request: web.Request) -> web.Response:
        """ListStreamPools."""
        query = request.query
        rows = [
            self.pool_json(pool)
            for pool in self.storage.stream_pools()
            if query.get("id") in (None, pool["id"])
            and query.get("name") in (None, pool["name"])
            and query.get("compartmentId") in (None, pool["compartment_id"])
        ]
        state = query.get("lifecycleState")
        if state:
            rows = [row for row in rows if row["lifecycleState"] == state.upper()]
        return json_reply(rows)

    @requires("manage", "stream-pools", compartment_target)
    async def create_pool(self, request: web.Request) -> web.Response:
        """CreateStreamPool: CREATING first, then ACTIVE."""
        fields = await read_fields(request)
        name = fields.required_string("name")
        compartment_id = fields.required_string("compartmentId")

        pool = self.storage.create_stream_pool(
            new_ocid("streampool"), name, compartment_id, state="CREATING"
        )
        headers = self._start_work("CREATE_STREAM_POOL", "streampool", pool, "CREATED")
        return json_reply(self.pool_json(pool), headers=headers)

    @requires("manage", "stream-pools", pool_target)
    async def delete_pool(self, request: web.Request) -> web.Response:
        """DeleteStreamPool: refused (409) while it holds a stream not deleted.

        A pool already DELETING or DELETED answers 404, as a stream does.
        """
        pool = self.storage.stream_pool(request.match_info["streamPoolId"])
        if pool is None:
            raise NotFound("Stream pool not found or not authorized.")
        holding = [
            stream
            for stream in self.storage.streams()
            if stream["stream_pool_id"] == pool["id"]
            and lifecycle_state(stream) != "DELETED"
        ]
        if lifecycle_state(pool) in GONE_STATES:
            raise NotFound("Stream pool not found or not authorized.")
        if holding:
            raise Conflict("The stream pool still holds streams; delete them first.")

        self.storage.set_lifecycle_state("stream_pool", pool["id"], "DELETING")
        headers = self._start_work("DELETE_STREAM_POOL", "streampool", pool, "DELETED")
        return web.Response(status=202, headers=headers)

    # messages

    @requires("use", "stream-push", stream_target)
    async def put_messages(self, request: web.Request) -> web.Response:
        """PutMessages: 200 with an entry per message, or 400 for the whole request.

        With limits on, an entry that would take its partition over 1 MB/s is
        not stored: its entry carries error TooManyRequests, and `failures`
        counts such entries, as OCI answers.
        """
        stream = self._stream(request)
        fields = await read_fields(request)
        messages = fields.array("messages")
        if not messages:
            raise BadRequest("messages must be a non-empty list.")

        decoded = []
        total = 0
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("value") is None:
                raise BadRequest(f"messages[{index}].value is required.")
            value = decode_base64(message["value"], f"messages[{index}].value")
            key = message.get("key")
            if key is not None:
                key = decode_base64(key, f"messages[{index}].key")
                if len(key) > MAX_KEY_BYTES:
                    raise BadRequest(
                        f"messages[{index}].key is longer than {MAX_KEY_BYTES} bytes."
                    )
            total += len(value) + len(key or b"")
            if len(value) > MAX_REQUEST_BYTES:
                raise BadRequest(f"messages[{index}] is larger than 1 MiB.")
            decoded.append((key, value))
        if total > MAX_REQUEST_BYTES:
            raise BadRequest("The request is larger than 1 MiB.")

        accepted: list[tuple[int, bytes | None, bytes]] = []
        outcome: list[int | None] = []
        for key, value in decoded:
            partition = self._partition_for(stream, key)
            size = len(value) + len(key or b"")
            if self.limits.allow_write(stream["id"], partition, size):
                outcome.append(len(accepted))
                accepted.append((partition, key, value))
            else:
                outcome.append(None)
        placed = self.storage.append_messages(stream["id"], accepted)

        entries: list[dict[str, Any]] = []
        for placed_index in outcome:
            if placed_index is None:
                entries.append(
                    {
                        "error": "TooManyRequests",
                        "errorMessage": "The partition's write throughput limit"
                        " (1 MB per second) was exceeded; retry this message.",
                    }
                )
                continue
            partition, offset, stamp = placed[placed_index]
            entries.append(
                {
                    "partition": str(partition),
                    "offset": offset,
                    "timestamp": format_time(stamp),
                }
            )
        failures = outcome.count(None)
        return json_reply({"failures": failures, "entries": entries})

    def _partition_for(self, stream: Row, key: bytes | None) -> int:
        if key is not None:
            return partition_for_key(key, stream["partitions"])
        turn = self.round_robin.get(stream["id"], 0)
        self.round_robin[stream["id"]] = turn + 1
        return turn % stream["partitions"]

    @requires("use", "stream-pull", stream_target)
    async def create_cursor(self, request: web.Request) -> web.Response:
        """CreateCursor on one partition."""
        stream = self._stream(request)
        fields = await read_fields(request)
        kind = fields.choice("type", CURSOR_TYPES)
        partition = fields.required_integer(
            "partition",
            minimum=0,
            maximum=stream["partitions"] - 1,
            digits_allowed=True,
        )

        first, following = self.storage.partition_bounds(stream["id"], partition)
        if kind in ("AT_OFFSET", "AFTER_OFFSET"):
            offset = fields.required_integer("offset", minimum=0)
            position = offset if kind == "AT_OFFSET" else offset + 1
            if position > following:
                raise BadRequest(f"offset {offset} is beyond the end of the partition.")
            if position < first:
                raise BadRequest(
                    f"offset {offset} is before the oldest message kept on the"
                    f" partition ({first}); it has passed the retention period."
                )
        elif kind == "AT_TIME":
            position = self.storage.offset_at_time(
                stream["id"], partition, fields.time("time")
            )
        elif kind == "LATEST":
            position = following
        else:
            position = first

        cursor = {"kind": "partition", "stream": stream["id"], "partition": partition}
        cursor["offset"] = position
        return json_reply({"value": self.cursors.encode(cursor)})

    @requires("use", "stream-pull", stream_target)
    async def get_messages(self, request: web.Request) -> web.Response:
        """GetMessages: a JSON list, and the next cursor in opc-next-cursor."""
        stream = self._stream(request)
        cursor = self._cursor_for(stream, request.query.get("cursor"))
        limit = query_int(
            request, "limit", MAX_GET_LIMIT, minimum=1, maximum=MAX_GET_LIMIT
        )

        if cursor["kind"] == "partition":
            self._check_read_limit(stream, None, [cursor["partition"]])
            first, _ = self.storage.partition_bounds(stream["id"], cursor["partition"])
            if cursor["offset"] < first:
                raise BadRequest(
                    "The cursor points before the oldest message kept on the"
                    " partition; those messages passed the retention period."
                    " Create a new cursor."
                )
            rows = self.storage.read_messages(
                stream["id"], cursor["partition"], cursor["offset"], limit
            )
            if rows:
                cursor["offset"] = rows[-1]["offset"] + 1
        else:
            rows = self._read_group(stream, cursor, limit)

        body = [self._message_json(stream, row) for row in rows]
        next_cursor = self.cursors.encode(cursor)
        return json_reply(body, headers={"opc-next-cursor": next_cursor})

    def _check_read_limit(
        self, stream: Row, group: str | None, partitions: list[int]
    ) -> None:
        if not self.limits.allow_get(stream["id"], group, partitions):
            raise TooManyRequests(
                "Too many requests: GetMessages is limited to 5 calls per second"
                " per partition per consumer group."
            )

    def _cursor_for(self, stream: Row, value: str | None) -> dict[str, Any]:
        cursor = self.cursors.decode(value)
        if cursor["stream"] != stream["id"]:
            raise BadRequest("The cursor belongs to another stream.")
        return cursor

    def _message_json(self, stream: Row, row: Row) -> dict[str, Any]:
        return {
            "stream": stream["name"],
            "partition": str(row["partition"]),
            "key": encode_base64(row["key"]),
            "value": encode_base64(row["value"]),
            "offset": row["offset"],
            "timestamp": format_time(row["timestamp"]),
        }

    # consumer groups

    @requires("use", "stream-pull", stream_target)
    async def create_group_cursor(self, request: web.Request) -> web.Response:
        """CreateGroupCursor: join the group and start after its committed offsets."""
        stream = self._stream(request)
        fields = await read_fields(request)
        kind = fields.choice("type", GROUP_CURSOR_TYPES)
        cursor = {
            "kind": "group",
            "stream": stream["id"],
            "group": fields.required_string("groupName"),
            "instance": fields.string("instanceName")
            or f"instance-{secrets.token_hex(4)}",
            "type": kind,
            "time": fields.time("time") if kind == "AT_TIME" else None,
            "commit_on_get": fields.boolean("commitOnGet", default=True),
            "timeout": fields.integer(
                "timeoutInMs",
                default=DEFAULT_GROUP_TIMEOUT_MS,
                minimum=1,
                maximum=MAX_GROUP_TIMEOUT_MS,
            ),
            "positions": {},
        }

        for row in self._held(stream, cursor):
            cursor["positions"][str(row["partition"])] = self._start(
                stream, cursor, row
            )
        return json_reply({"value": self.cursors.encode(cursor)})

    def _held(self, stream: Row, cursor: dict[str, Any]) -> list[dict[str, Any]]:
        """Renew the instance, rebalance the group, return the rows it holds."""
        rows = self._rebalance(stream, cursor["group"], cursor["instance"], cursor)
        return [row for row in rows if row["reserved_instance"] == cursor["instance"]]

    def _rebalance(
        self, stream: Row, group: str, instance: str, cursor: dict[str, Any]
    ) -> list[dict[str, Any]]:
        now = now_ms()
        self.storage.ensure_group(stream["id"], group, stream["partitions"])
        self.storage.touch_instance(
            stream["id"], group, instance, now + cursor["timeout"]
        )
        alive = self.storage.live_instances(stream["id"], group, now)
        rows = [dict(row) for row in self.storage.group_partitions(stream["id"], group)]

        # NOTE: assignment is sticky: a partition moves only when its holder lapsed
        # or holds more than its fair share (partitions / live instances).
        names = list(alive)
        quota = {
            name: len(rows) // len(names) + (1 if index < len(rows) % len(names) else 0)
            for index, name in enumerate(names)
        }
        held: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for row in rows:
            holder = row["reserved_instance"]
            if holder in held and len(held[holder]) < quota[holder]:
                held[holder].append(row)
            else:
                row["reserved_instance"] = None
        free = [row for row in rows if row["reserved_instance"] is None]
        for name in names:
            while len(held[name]) < quota[name] and free:
                row = free.pop(0)
                row["reserved_instance"] = name
                held[name].append(row)
        for row in rows:
            holder = row["reserved_instance"]
            row["reserved_until"] = alive.get(holder) if holder else None

        self.storage.save_group_partitions(stream["id"], group, rows)
        return rows

    def _start(self, stream: Row, cursor: dict[str, Any], row: dict[str, Any]) -> int:
        """Where an instance starts reading a partition it holds."""
        partition = row["partition"]
        committed = row["committed_offset"]
        known = cursor["positions"].get(str(partition))
        if committed is not None:
            return max(committed + 1, known or 0)
        if known is not None:
            return known
        first, following = self.storage.partition_bounds(stream["id"], partition)
        if cursor["type"] == "LATEST":
            return following
        if cursor["type"] == "AT_TIME":
            return self.storage.offset_at_time(stream["id"], partition, cursor["time"])
        return first

    def _read_group(self, stream: Row, cursor: dict[str, Any], limit: int) -> list[Row]:
        held = self._held(stream, cursor)
        self._check_read_limit(
            stream, cursor["group"], [row["partition"] for row in held]
        )
        if cursor["commit_on_get"]:
            self._commit(stream, cursor, held)

        # NOTE: a group position behind retention moves up to the oldest kept
        # message instead of failing, so a lagging group resumes on its own.
        starts = {
            row["partition"]: max(
                self._start(stream, cursor, row),
                self.storage.partition_bounds(stream["id"], row["partition"])[0],
            )
            for row in held
        }
        batch: list[Row] = []
        for partition, start in starts.items():
            batch += self.storage.read_messages(stream["id"], partition, start, limit)
        batch.sort(key=lambda row: (row["timestamp"], row["partition"], row["offset"]))
        batch = batch[:limit]

        positions = {str(partition): start for partition, start in starts.items()}
        for row in batch:
            positions[str(row["partition"])] = row["offset"] + 1
        cursor["positions"] = positions
        return batch

    def _commit(
        self, stream: Row, cursor: dict[str, Any], held: list[dict[str, Any]]
    ) -> None:
        """Commit the offsets the cursor has passed on partitions the instance holds."""
        for row in held:
            position = cursor["positions"].get(str(row["partition"]))
            if position is None:
                continue
            committed = row["committed_offset"]
            if committed is None or position - 1 > committed:
                row["committed_offset"] = position - 1
        self.storage.save_group_partitions(stream["id"], cursor["group"], held)

    def _group_cursor(self, request: web.Request, stream: Row) -> dict[str, Any]:
        cursor = self._cursor_for(stream, request.query.get("cursor"))
        if cursor["kind"] != "group":
            raise BadRequest("The cursor is not a group cursor.")
        return cursor

    @requires("use", "stream-pull", stream_target)
    async def consumer_commit(self, request: web.Request) -> web.Response:
        """ConsumerCommit: commit what the cursor has passed; reply a fresh cursor."""
        stream = self._stream(request)
        cursor = self._group_cursor(request, stream)
        held = self._held(stream, cursor)
        self._commit(stream, cursor, held)
        return json_reply({"value": self.cursors.encode(cursor)})

    @requires("use", "stream-pull", stream_target)
    async def consumer_heartbeat(self, request: web.Request) -> web.Response:
        """ConsumerHeartbeat: keep the instance's reservations; reply a fresh cursor."""
        stream = self._stream(request)
        cursor = self._group_cursor(request, stream)
        self._held(stream, cursor)
        return json_reply({"value": self.cursors.encode(cursor)})

    @requires("read", "stream-pull", stream_target)
    async def get_group(self, request: web.Request) -> web.Response:
        """GetGroup: committed offsets and reservations per partition."""
        stream = self._stream(request)
        group = request.match_info["groupName"]
        rows = self.storage.group_partitions(stream["id"], group)
        if not rows:
            raise NotFound("Group not found or not authorized.")

        now = now_ms()
        reservations = []
        for row in rows:
            live = row["reserved_until"] is not None and row["reserved_until"] > now
            reservations.append(
                {
                    "partition": str(row["partition"]),
                    "committedOffset": (
                        row["committed_offset"]
                        if (row["committed_offset"] or 0) >= 0
                        else None
                    ),
                    "reservedInstance": row["reserved_instance"] if live else None,
                    "timeReservedUntil": (
                        format_time(row["reserved_until"]) if live else None
                    ),
                }
            )
        body = {"streamId": stream["id"], "groupName": group}
        return json_reply({**body, "reservations": reservations})

    @requires("use", "stream-pull", stream_target)
    async def update_group(self, request: web.Request) -> web.Response:
        """UpdateGroup: move every partition's committed offset to a new start."""
        stream = self._stream(request)
        group = request.match_info["groupName"]
        fields = await read_fields(request)
        kind = fields.choice("type", GROUP_CURSOR_TYPES)
        start_time = fields.time("time") if kind == "AT_TIME" else None

        self.storage.ensure_group(stream["id"], group, stream["partitions"])
        rows = [dict(row) for row in self.storage.group_partitions(stream["id"], group)]
        for row in rows:
            first, following = self.storage.partition_bounds(
                stream["id"], row["partition"]
            )
            if start_time is not None:
                start = self.storage.offset_at_time(
                    stream["id"], row["partition"], start_time
                )
            elif kind == "LATEST":
                start = following
            else:
                start = first
            row["committed_offset"] = start - 1
        self.storage.save_group_partitions(stream["id"], group, rows)
        return web.Response(status=200)
