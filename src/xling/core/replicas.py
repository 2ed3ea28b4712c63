"""Choosing among replicas of one server (LLM servers, embedding servers): the one policy.

Fewest requests in flight first; a replica that failed is rested for ``down_seconds`` (tried
only after every replica not resting), and a request that failed on one replica is tried on
each other one once. The LLM replicas of the service (:class:`xling.server.service.Replicas`)
and the ``openai:`` embedder over several URLs
(:class:`xling.embedders.openai_compat.OpenAIEmbedder`) both choose through
:class:`ReplicaSet`. It is thread-safe, so threads and an event loop may share one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Replica", "ReplicaSet"]

T = TypeVar("T")


@dataclass(eq=False)
class Replica(Generic[T]):
    """One replica and its state.

    Attributes:
        target: What a request is sent through (a client, a URL).
        in_flight: Requests on it now.
        down_until: The monotonic time until which it rests (0: not resting).
    """

    target: T
    in_flight: int = 0
    down_until: float = 0.0


class ReplicaSet(Generic[T]):
    """Replicas of one server, chosen fewest in flight first, failed ones rested.

    Args:
        targets: One per replica, in the order ties are broken.
        down_seconds: How long a replica that failed rests.
        clock: Monotonic seconds (a test may pass its own).
    """

    def __init__(
        self,
        targets: Sequence[T],
        *,
        down_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.replicas = [Replica(target) for target in targets]
        self.down_seconds = down_seconds
        self._clock = clock
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.replicas)

    def __bool__(self) -> bool:
        return bool(self.replicas)

    def _order_key(self, now: float) -> Callable[[Replica[T]], tuple[bool, int, float]]:
        return lambda r: (r.down_until > now, r.in_flight, r.down_until)

    def best(self) -> Replica[T]:
        """The replica to use now, without claiming it (fewest in flight, rested ones last).

        Raises:
            IndexError: When there is no replica.
        """
        with self._lock:
            return min(self.replicas, key=self._order_key(self._clock()))

    def claim(self, tried: Collection[Replica[T]] = ()) -> Replica[T] | None:
        """Chooses a replica not in ``tried`` and counts one more request on it.

        Returns:
            The replica (give it back with :meth:`release`), or ``None`` when every replica
            was tried.
        """
        with self._lock:
            left = [r for r in self.replicas if r not in tried]
            if not left:
                return None
            chosen = min(left, key=self._order_key(self._clock()))
            chosen.in_flight += 1
            return chosen

    def release(self, replica: Replica[T], *, failed: bool = False) -> None:
        """Counts one request on ``replica`` done; a failed one rests for ``down_seconds``."""
        with self._lock:
            replica.in_flight -= 1
            if failed:
                replica.down_until = self._clock() + self.down_seconds

    @contextmanager
    def attempts(self) -> Iterator[Iterator[Replica[T]]]:
        """Yields the replicas to try one request on, best first, each claimed while it is
        tried: break out of the loop on success; a replica the loop goes on from is rested.

        Example::

            with replicas.attempts() as tries:
                for replica in tries:
                    try:
                        return send(replica.target)
                    except ServiceUnavailableError as exc:
                        errors.append(str(exc))
        """
        tried: list[Replica[T]] = []
        current: list[Replica[T]] = []

        def tries() -> Iterator[Replica[T]]:
            while (replica := self.claim(tried)) is not None:
                tried.append(replica)
                current.append(replica)
                yield replica
                current.pop()
                self.release(replica, failed=True)

        try:
            yield tries()
        finally:
            for replica in current:  # the one the loop stopped on: it answered
                self.release(replica)

    @property
    def in_flight(self) -> int:
        """Requests in flight on all replicas."""
        with self._lock:
            return sum(r.in_flight for r in self.replicas)
