"""The replica-choosing policy: fewest in flight first, failed ones rested, each tried once."""

from __future__ import annotations

from xling.core.replicas import ReplicaSet


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_fewest_in_flight_first_ties_in_given_order() -> None:
    replicas = ReplicaSet(["a", "b", "c"])
    claimed = [replicas.claim() for _ in range(4)]
    assert [r.target for r in claimed if r] == ["a", "b", "c", "a"]
    assert replicas.in_flight == 4
    for replica in claimed[1:3]:
        assert replica is not None
        replicas.release(replica)
    assert replicas.best().target == "b"  # b and c are free again, b first


def test_a_failed_replica_rests_then_comes_back() -> None:
    clock = Clock()
    replicas = ReplicaSet(["a", "b"], down_seconds=30, clock=clock)
    first = replicas.claim()
    assert first is not None and first.target == "a"
    replicas.release(first, failed=True)
    busy = [replicas.claim(), replicas.claim()]
    # b takes both: a rests although b has more in flight.
    assert [r.target for r in busy if r] == ["b", "b"]
    clock.now += 31
    assert replicas.best().target == "a"


def test_attempts_try_each_replica_once_and_rest_the_failed() -> None:
    clock = Clock()
    replicas = ReplicaSet(["a", "b", "c"], clock=clock)
    tried = []
    with replicas.attempts() as tries:
        for replica in tries:
            tried.append(replica.target)
            if replica.target == "b":
                break  # b answered
    assert tried == ["a", "b"]
    assert replicas.in_flight == 0
    down = {r.target: r.down_until > clock.now for r in replicas.replicas}
    assert down == {"a": True, "b": False, "c": False}
    with replicas.attempts() as tries:
        assert [r.target for r in tries] == ["b", "c", "a"]  # all fail: rested one last
    assert replicas.in_flight == 0
