"""The requests a run has queued or sent and not settled yet, with the rows waiting for each.

Rows that render the same messages share one request (one entry, several rows). The table also
bounds how many requests are outstanding: once ``limit`` are, :meth:`InFlightTable.add` waits
until half of them have settled (one wake-up per burst, not one per row as with a semaphore).

Example:
    >>> table = InFlightTable(limit=64)
    >>> await table.add(key, messages_json, row_id, input_json)        # doctest: +SKIP
    >>> entry = table.pop(key); table.settle()                         # doctest: +SKIP
"""

import asyncio
from dataclasses import dataclass


@dataclass(slots=True)
class InFlight:
    """One request's rendered messages and the rows that get its answer."""

    messages_json: bytes
    rows: list[tuple[str, str]]  # (row_id, input_json); more than one when rows share a key


class InFlightTable:
    """Outstanding requests by cache key.

    Args:
        limit: requests outstanding at most.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.outstanding = 0
        self._entries: dict[str, InFlight] = {}
        self._room = asyncio.Event()

    def join(self, key: str, row_id: str, input_json: str) -> bool:
        """Add a row to the request already outstanding for ``key``; False if there is none."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        entry.rows.append((row_id, input_json))
        return True

    async def add(self, key: str, messages_json: bytes, row_id: str, input_json: str) -> None:
        """A new outstanding request (waits while ``limit`` are outstanding)."""
        if self.outstanding >= self.limit:
            self._room.clear()
            await self._room.wait()
        self._entries[key] = InFlight(messages_json, [(row_id, input_json)])
        self.outstanding += 1

    def pop(self, key: str) -> InFlight | None:
        """The entry of ``key``, removed (its rows get their result now)."""
        return self._entries.pop(key, None)

    def settle(self) -> None:
        """A request is done (answered, failed, or dropped by a stop)."""
        self.outstanding -= 1
        if self.outstanding <= self.limit // 2:
            self._room.set()


class RecentKeys:
    """Keys answered in this process whose commit the producer's last store lookup may not
    have seen; pruned once committed (the store answers for them from then on)."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._committed: list[list[str]] = []

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def add(self, key: str) -> None:
        self._keys.add(key)

    def committed(self, keys: list[str]) -> None:
        """These keys are in the store now (called by the writer after a commit)."""
        if keys:
            self._committed.append(keys)

    def prune(self) -> None:
        """Forget committed keys: call just before a store lookup, which sees them."""
        for keys in self._committed:
            self._keys.difference_update(keys)
        self._committed.clear()
