"""Sign-in throttling: exponential back-off per user name and per client address.

A few wrong passwords cost nothing; after that each further failure locks the name (or the
address) for twice as long as the last time, up to ``max_lock_s``. Both keys count: guessing one
user's password from many addresses hits the user's lock, guessing many users' passwords from
one address hits the address's lock. The address allows more failures than a name, because a
plant's people may share one address behind a proxy or NAT. A success clears the user's count
only (an attacker with one valid account must not reset the address count); counts are
forgotten after ``forget_after_s`` without failures.

The clock is injected (monotonic seconds) so tests step through lockouts without sleeping.
Memory is bounded: at most ``max_keys`` keys, the longest quiet forgotten first.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


@dataclass(frozen=True)
class ThrottleRule:
    free_failures: int  # failures before the first lock
    base_lock_s: float = 1.0  # the first lock; doubled for every further failure
    max_lock_s: float = 900.0

    def lock_for(self, failures: int) -> float:
        over = failures - self.free_failures
        if over <= 0:
            return 0.0
        return min(self.max_lock_s, self.base_lock_s * 2.0 ** min(over - 1, 60))


class SignInThrottle:
    """Remembers recent sign-in failures by key (``user:<name>``, ``addr:<ip>``)."""

    def __init__(
        self,
        *,
        per_user: ThrottleRule = ThrottleRule(free_failures=5),
        per_address: ThrottleRule = ThrottleRule(free_failures=20),
        forget_after_s: float = 3600.0,
        max_keys: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rules = {"user": per_user, "addr": per_address}
        self._forget_after_s = forget_after_s
        self._max_keys = max_keys
        self._clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def keys(user: str, address: str) -> tuple[str, str]:
        return f"user:{user.strip().lower()}", f"addr:{address}"

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until every key may try again; 0 when none is locked."""
        now = self._clock()
        with self._lock:
            waits = [
                record.locked_until - now
                for key in keys
                if (record := self._live(key, now)) is not None
            ]
        return max([0.0, *waits])

    def failure(self, keys: Iterable[str]) -> float:
        """Count a failed sign-in against every key; return the lock it earned (0: none yet)."""
        now = self._clock()
        longest = 0.0
        with self._lock:
            for key in keys:
                record = self._live(key, now) or _Record()
                record.failures += 1
                record.last_failure = now
                lock = self._rules[key.split(":", 1)[0]].lock_for(record.failures)
                record.locked_until = max(record.locked_until, now + lock)
                longest = max(longest, lock)
                self._records[key] = record
                self._records.move_to_end(key)
            while len(self._records) > self._max_keys:
                self._records.popitem(last=False)
        return longest

    def success(self, user_key: str) -> None:
        with self._lock:
            self._records.pop(user_key, None)

    def _live(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and now - record.last_failure > self._forget_after_s:
            del self._records[key]
            return None
        return record


def retry_after_header(seconds: float) -> str:
    """Whole seconds, rounded up (``Retry-After`` takes an integer)."""
    return str(max(1, math.ceil(seconds)))
