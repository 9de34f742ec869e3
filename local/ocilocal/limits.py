"""Service limits of Streaming, enforced with `ocilocal up --enforce-limits`.

OCI allows 5 GetMessages calls per second per partition per consumer group
and 1 MB per second of writes per partition. Each limit here is a token
bucket: it refills at the allowed rate and holds a small burst (one second's
worth; for writes at least one full 1 MiB request), so a client that keeps
to the rate is never refused and one that does not is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

GET_CALLS_PER_SECOND = 5.0
GET_BURST = 5.0
WRITE_BYTES_PER_SECOND = 1_000_000.0
WRITE_BURST_BYTES = 1024 * 1024.0


@dataclass
class TokenBucket:
    """Refills `rate` tokens a second up to `capacity`; starts full."""

    rate: float
    capacity: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.capacity
        self.updated = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def available(self, amount: float) -> bool:
        """Whether `amount` tokens could be taken now."""
        self._refill()
        return self.tokens >= amount

    def take(self, amount: float) -> bool:
        """Take `amount` tokens if there are that many; say whether it did."""
        if not self.available(amount):
            return False
        self.tokens -= amount
        return True


class StreamLimits:
    """Per-partition read and write buckets; everything passes when disabled."""

    def __init__(
        self, *, enabled: bool, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.enabled = enabled
        self.clock = clock
        self.reads: dict[tuple[str, str, int], TokenBucket] = {}
        self.writes: dict[tuple[str, int], TokenBucket] = {}

    def allow_get(
        self, stream_id: str, group: str | None, partitions: list[int]
    ) -> bool:
        """Charge one GetMessages call to each partition; False if any is spent."""
        if not self.enabled:
            return True
        buckets = [
            self.reads.setdefault(
                (stream_id, group or "", partition),
                TokenBucket(GET_CALLS_PER_SECOND, GET_BURST, self.clock),
            )
            for partition in partitions
        ]
        if not all(bucket.available(1) for bucket in buckets):
            return False
        for bucket in buckets:
            bucket.take(1)
        return True

    def allow_write(self, stream_id: str, partition: int, size: int) -> bool:
        """Charge `size` bytes to a partition; False when it would exceed 1 MB/s."""
        if not self.enabled:
            return True
        bucket = self.writes.setdefault(
            (stream_id, partition),
            TokenBucket(WRITE_BYTES_PER_SECOND, WRITE_BURST_BYTES, self.clock),
        )
        return bucket.take(size)
