"""Which replica of a judge takes the next request: least outstanding requests, replicas that fail
taken out of the rotation and brought back by a later health check.

:class:`EndpointPool` knows nothing about HTTP. The client (:mod:`cocoedit.judge.client`) asks it
for a replica (:meth:`EndpointPool.acquire`), sends one attempt there and tells it how that went
(:meth:`EndpointPool.release`):

* each replica has ``slots`` requests in flight at most (``endpoint.concurrency``); a request goes
  to the replica in the rotation with the fewest outstanding requests (ties: the one given fewer
  requests so far), and waits when every one is full;
* a replica that cannot be reached, or whose last ``eject_after`` attempts all failed in a way
  that is the server's fault (timeout, dropped connection, 5xx, an unusable body), leaves the
  rotation — unless it is the last one in it: a lone server is waited for and retried as before;
* every ``recheck_s`` seconds a replica out of the rotation gets a health check (the ``probe``
  coroutine); when it answers, the replica is back;
* per replica, the attempts sent, the answers, the failures by reason and how often it left the
  rotation are counted (:meth:`EndpointPool.stats`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

logger = logging.getLogger("cocoedit.judge")


@dataclass
class _Replica:
    url: str
    outstanding: int = 0
    requests: int = 0
    answered: int = 0
    consecutive_faults: int = 0
    ejections: int = 0
    in_rotation: bool = True
    failures: Counter = field(default_factory=Counter)


class EndpointPool:
    """Routing state of the replicas ``urls`` of one judge (see the module doc)."""

    def __init__(
        self,
        urls: Sequence[str],
        slots: int,
        eject_after: int,
        recheck_s: float,
        probe: Callable[[int], Awaitable[None]],
    ):
        if not urls:
            raise ValueError("a judge needs at least one base URL")
        self.replicas = [_Replica(u) for u in urls]
        self.slots, self.eject_after, self.recheck_s = slots, eject_after, recheck_s
        self._probe = probe
        self._waiters: list[asyncio.Future] = []
        self._rechecks: set[asyncio.Task] = set()

    def __len__(self) -> int:
        return len(self.replicas)

    def url(self, i: int) -> str:
        return self.replicas[i].url

    def in_rotation(self) -> list[int]:
        return [i for i, r in enumerate(self.replicas) if r.in_rotation]

    def _wake(self) -> None:
        """Let every waiting :meth:`acquire` look again (a slot freed, a replica came back)."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _pick(self, avoid: int | None) -> int | None:
        rotation = self.in_rotation()
        if avoid is not None and len(rotation) > 1:
            rotation = [i for i in rotation if i != avoid]
        free = [i for i in rotation if self.replicas[i].outstanding < self.slots]
        if not free:
            return None
        return min(free, key=lambda i: (self.replicas[i].outstanding, self.replicas[i].requests))

    async def acquire(self, avoid: int | None = None) -> int:
        """A replica with a free slot, the least busy in the rotation (another than ``avoid`` when
        the rotation has another); waits while every one is full."""
        while (i := self._pick(avoid)) is None:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        replica = self.replicas[i]
        replica.outstanding += 1
        replica.requests += 1
        return i

    def release(self, i: int, failure: str | None = None, fault: bool = False, unreachable: bool = False) -> bool:
        """End one attempt on replica ``i``: ``failure`` is its reason tag (None: answered),
        ``fault`` whether it counts towards taking the replica out (the server's fault),
        ``unreachable`` whether the server could not be reached at all. Returns whether the replica
        left the rotation because of it."""
        replica = self.replicas[i]
        replica.outstanding -= 1
        if failure is None:
            replica.answered += 1
            replica.consecutive_faults = 0
        else:
            replica.failures[failure] += 1
            replica.consecutive_faults = replica.consecutive_faults + 1 if fault or unreachable else 0
        ejected = False
        if replica.in_rotation and (unreachable or replica.consecutive_faults >= self.eject_after):
            why = "cannot be reached" if unreachable else f"failed {replica.consecutive_faults} times in a row"
            ejected = self.eject(i, why)
        self._wake()
        return ejected

    def eject(self, i: int, why: str) -> bool:
        """Take replica ``i`` out of the rotation (not the last one in it) and start checking it
        every ``recheck_s``; returns whether it was taken out."""
        replica = self.replicas[i]
        if not replica.in_rotation or len(self.in_rotation()) <= 1:
            return False
        replica.in_rotation = False
        replica.ejections += 1
        logger.warning(
            "judge replica %s %s: out of the rotation, checked again every %g s (%d of %d replicas serve)",
            replica.url,
            why,
            self.recheck_s,
            len(self.in_rotation()),
            len(self.replicas),
        )
        task = asyncio.get_running_loop().create_task(self._recheck(i))
        self._rechecks.add(task)
        task.add_done_callback(self._rechecks.discard)
        return True

    async def _recheck(self, i: int) -> None:
        replica = self.replicas[i]
        while True:
            await asyncio.sleep(self.recheck_s)
            try:
                await self._probe(i)
            except Exception as e:  # any failure of the check: still out, try again later
                logger.debug("judge replica %s still fails its health check: %s", replica.url, e)
                continue
            replica.in_rotation, replica.consecutive_faults = True, 0
            logger.warning("judge replica %s answers again: back in the rotation", replica.url)
            self._wake()
            return

    def stats(self) -> list[dict]:
        """Per replica: base URL, attempts sent, answers, failures by reason, times taken out of
        the rotation, and whether it is in the rotation now."""
        return [
            {
                "base_url": r.url,
                "requests": r.requests,
                "answered": r.answered,
                "failures": dict(r.failures),
                "ejections": r.ejections,
                "in_rotation": r.in_rotation,
            }
            for r in self.replicas
        ]

    async def aclose(self) -> None:
        """Stop the health checks of replicas out of the rotation."""
        for task in list(self._rechecks):
            task.cancel()
        await asyncio.gather(*self._rechecks, return_exceptions=True)
