"""Leases on the loop's partitions: exactly one live ``autoops loop`` process runs each partition,
and another takes it over when its owner dies.

With PostgreSQL as the shared state (``[state] url = "postgresql://..."``) a partition's lease is a
**session-level advisory lock** (``pg_try_advisory_lock(<site key>, <partition>)``) held on a
connection of its own. The server releases a session's advisory locks the moment that session
ends: a loop process that exits, crashes or is killed (SIGKILL included) closes its socket and its
partitions are free at once; a host that vanishes without closing it is noticed by the server's TCP
keep-alive / user timeout, which this connection sets to a few seconds (``tcp_keepalives_*``,
``tcp_user_timeout``). Every loop process also holds one *member* lock, so each can count the live
members (``pg_locks``) and take only its fair share (``ceil(partitions / members)``): a process
that started alone and owns everything hands partitions over as others join, and takes them back
when they die.

The owner must also stop acting the moment it might have lost a lease. Its connection is checked
on every poll (once a tick); when the check fails or has not succeeded for ``grace_s`` (shorter
than the server's detection time), ``held()`` answers "nothing", so the loop stops its partitions
before anyone else can take them. Beyond that, what a partition decides is de-duplicated where it
lands: decision keys and workflow ids are deterministic business keys, so a workflow started by
an old owner and again by the new one is the same workflow (Temporal refuses a second execution
of a running id).

Why not Ray named actors as partition owners? A Ray actor's life is the Ray cluster's: a detached
actor outlives the process that should own the partition (nothing tells anyone the owner died), a
non-detached one dies with its driver only as far as the GCS sees it, and a head restart or a lost
Ray Client connection ends every owner at once while the loops themselves run on. The loop's state
(progress, decisions, reservations) is in PostgreSQL; taking the lease in the same database ties
"who may write this partition's progress" to the store that holds it, with no time-to-live to
tune and nothing to clean up after a crash. Without PostgreSQL (embedded default: files / SQLite
in one state directory) there is one loop process, and it owns every partition
(``EmbeddedLeases``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from typing import Any, Protocol

log = logging.getLogger(__name__)

# Advisory lock keys are two int4s: (class, object). The class is derived from the site, so two
# plants sharing one database never take each other's partitions; the object is the partition
# number (or a member's random id under the members' class).


def _class_key(*parts: str) -> int:
    digest = hashlib.sha256(":".join(("autoops", *parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF  # non-negative: pg_locks shows it as oid


class Leases(Protocol):
    partitions: int

    def poll(self) -> frozenset[int]:
        """Check the lease store, take free partitions up to a fair share; the partitions held."""
        ...

    def held(self) -> frozenset[int]:
        """The partitions this process may act on now (empty once a lease may have been lost)."""
        ...

    def excess(self) -> frozenset[int]:
        """Partitions held above the fair share: stop them, then ``release`` each."""
        ...

    def release(self, partition: int) -> None: ...

    def close(self) -> None: ...


class EmbeddedLeases:
    """One process, no shared database: it owns every partition."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._all = frozenset(range(partitions))
        self._closed = False

    def poll(self) -> frozenset[int]:
        return self.held()

    def held(self) -> frozenset[int]:
        return frozenset() if self._closed else self._all

    def excess(self) -> frozenset[int]:
        return frozenset()

    def release(self, partition: int) -> None:
        return None

    def close(self) -> None:
        self._closed = True


def psycopg_url(url: str) -> str:
    """A SQLAlchemy-style ``postgresql+psycopg://`` URL as libpq takes it."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


class PostgresLeases:
    """Partition leases as PostgreSQL session-level advisory locks (see the module docstring).

    Not thread-safe: call it from one thread at a time (the loop calls it once a tick, off its
    event loop). ``detect_s`` bounds how long the server takes to notice a silent peer."""

    def __init__(
        self,
        url: str,
        *,
        site: str,
        partitions: int,
        grace_s: float = 5.0,
        detect_s: int = 10,
        connect_timeout_s: int = 5,
    ) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be at least 1, got {partitions}")
        if grace_s >= detect_s:
            raise ValueError(f"grace_s ({grace_s}) must be shorter than detect_s ({detect_s})")
        self.url = psycopg_url(url)
        self.partitions = partitions
        self.site = site
        self.grace_s = grace_s
        self.detect_s = detect_s
        self.connect_timeout_s = connect_timeout_s
        self._key = _class_key("loop-partition", site)
        self._members_key = _class_key("loop-member", site)
        self._conn: Any = None
        self._member = 0
        self._held: set[int] = set()
        self._share = partitions
        self._ok_at = -math.inf
        self._closed = False

    # -- connection -----------------------------------------------------------------------------

    def _connect(self) -> None:
        import psycopg

        idle = max(1, self.detect_s // 4)
        # Server side: a silent client is dropped (and its locks released) within ~detect_s.
        # Client side: the same keep-alives, and every statement bounded, so a poll never hangs.
        options = " ".join(
            f"-c {name}={value}"
            for name, value in (
                ("tcp_keepalives_idle", idle),
                ("tcp_keepalives_interval", 1),
                ("tcp_keepalives_count", max(1, self.detect_s - idle)),
                ("tcp_user_timeout", self.detect_s * 1000),
                ("statement_timeout", int(self.grace_s * 1000)),
                ("idle_session_timeout", 0),
                ("idle_in_transaction_session_timeout", 0),
            )
        )
        conn = psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=self.connect_timeout_s,
            keepalives=1,
            keepalives_idle=idle,
            keepalives_interval=1,
            keepalives_count=max(1, self.detect_s - idle),
            tcp_user_timeout=self.detect_s * 1000,
            options=options,
            application_name="autoops-loop",
        )
        for _ in range(20):
            member = secrets.randbelow(2**31 - 1) + 1
            if conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (self._members_key, member)).fetchone()[0]:
                break
        else:  # pragma: no cover - 20 collisions among 2**31 ids
            conn.close()
            raise RuntimeError("no free member id for the partition leases")
        self._conn, self._member = conn, member
        self._held = set()
        log.info("partition leases: connected as member %d of site %s", member, self.site)

    def _drop(self, why: str) -> None:
        if self._held:
            log.warning("partition leases: giving up partitions %s (%s)", sorted(self._held), why)
        self._held = set()
        self._ok_at = -math.inf
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()  # the server releases every lock of this session
            except Exception:  # noqa: BLE001  already broken
                pass

    # -- the lease protocol ---------------------------------------------------------------------

    def poll(self) -> frozenset[int]:
        if self._closed:
            return frozenset()
        try:
            if self._conn is None or self._conn.closed:
                self._drop("connection closed")
                self._connect()
            members = self._conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = %s::oid AND objsubid = 2"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                (self._members_key,),
            ).fetchone()[0]
            self._share = math.ceil(self.partitions / max(1, int(members)))
            for partition in self._order():
                if len(self._held) >= self._share:
                    break
                if partition in self._held:
                    continue
                taken = self._conn.execute(
                    "SELECT pg_try_advisory_lock(%s, %s)", (self._key, partition)
                ).fetchone()[0]
                if taken:
                    log.info("partition leases: took partition %d (member %d)", partition, self._member)
                    self._held.add(partition)
            self._ok_at = time.monotonic()
        except Exception as exc:  # noqa: BLE001  any failure: we may no longer hold anything
            self._drop(f"lease store unreachable: {type(exc).__name__}: {exc}")
        return self.held()

    def _order(self) -> list[int]:
        # Start at a member-specific offset, so members joining together try different ones first.
        start = self._member % self.partitions
        return [(start + i) % self.partitions for i in range(self.partitions)]

    def held(self) -> frozenset[int]:
        if self._closed or time.monotonic() - self._ok_at > self.grace_s:
            return frozenset()
        return frozenset(self._held)

    def excess(self) -> frozenset[int]:
        extra = len(self._held) - self._share
        if extra <= 0:
            return frozenset()
        return frozenset(sorted(self._held, reverse=True)[:extra])

    def release(self, partition: int) -> None:
        if partition not in self._held:
            return
        self._held.discard(partition)
        try:
            self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", (self._key, partition))
            log.info("partition leases: handed partition %d over", partition)
        except Exception as exc:  # noqa: BLE001  a broken session has released it anyway
            self._drop(f"release failed: {type(exc).__name__}")

    def close(self) -> None:
        self._closed = True
        self._drop("closing")

    @property
    def member(self) -> int:
        return self._member


def leases_for(url: str | None, *, site: str, partitions: int) -> Leases:
    """PostgreSQL advisory-lock leases when the shared state is PostgreSQL; else one owner."""
    if url and url.split("://", 1)[0].split("+", 1)[0] == "postgresql":
        return PostgresLeases(url, site=site, partitions=partitions)
    return EmbeddedLeases(partitions)


def serialized(url: str | None, name: str, fn: Any, *args: Any, timeout_s: float = 120.0) -> Any:
    """``fn(*args)`` while holding a PostgreSQL advisory lock named ``name`` (waiting up to
    ``timeout_s`` for it): e.g. the state schema's first migration, which several role processes
    starting at once would otherwise race. Without PostgreSQL, just ``fn(*args)``."""
    if not url or url.split("://", 1)[0].split("+", 1)[0] != "postgresql":
        return fn(*args)
    import psycopg

    key = _class_key("serialized", name)
    with psycopg.connect(psycopg_url(url), autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"SET lock_timeout = {int(timeout_s * 1000)}")
        conn.execute("SELECT pg_advisory_lock(%s, 0)", (key,))
        try:
            return fn(*args)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s, 0)", (key,))
