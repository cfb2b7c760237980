"""Sign-in sessions and CSRF tokens.

Sessions live in the orchestrator's memory (``SessionStore``), or in the shared state database
when one is configured (``orchestrator.state``: every web process sees them); the cookie holds only a
random session id, HttpOnly and SameSite=Strict, and Secure when ``[web] secure_cookies`` is on
(the UI is served over HTTPS, e.g. behind a TLS proxy). Every session, signed in or not, has a CSRF
token that every POST must carry (form field ``csrf_token`` or header ``X-CSRF-Token``).

Sign-in is throttled per user name and per client address (``orchestrator.web.throttle``), and the
password hash (scrypt, deliberately slow) is checked in worker threads, at most
``max_concurrent_hashes`` at a time, so guessing neither stalls the event loop that serves every
other page nor queues without bound.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio.to_thread
from fastapi import HTTPException, Request, Response

from orchestrator.config import PlantConfig, User
from orchestrator.passwords import verify_password
from orchestrator.web.throttle import SignInThrottle
from orchestrator.web.tokens import TokenStore, token_id

if TYPE_CHECKING:
    from orchestrator.state.sessions import SqlSessionStore
    from orchestrator.state.tokens import SqlTokenStore

COOKIE = "autoops_session"
audit = logging.getLogger("autoops.audit")


@dataclass
class Session:
    id: str
    csrf: str
    user: str | None
    expires: float


class SessionStore:
    """In-memory sessions with an idle timeout; the clock is injected for tests."""

    def __init__(
        self, *, idle_s: float = 8 * 3600, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._sessions: dict[str, Session] = {}
        self._idle_s = idle_s
        self._clock = clock
        self._lock = threading.Lock()

    def new(self, user: str | None = None) -> Session:
        session = Session(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            user=user,
            expires=self._clock() + self._idle_s,
        )
        with self._lock:
            now = self._clock()
            for sid in [s.id for s in self._sessions.values() if s.expires < now]:
                del self._sessions[sid]
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or session.expires < self._clock():
                self._sessions.pop(session_id or "", None)
                return None
            session.expires = self._clock() + self._idle_s
            return session

    def drop(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)


#: Longer names are never declared users; they are cut before they become throttle keys.
_MAX_NAME = 200


class Throttled(Exception):
    """Sign-in refused without checking the password: locked out, or too many checks queued."""

    def __init__(self, retry_after_s: float, reason: str) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class Auth:
    """Sign-in, sign-out and the request checks the routes depend on."""

    def __init__(
        self,
        config: PlantConfig,
        store: SessionStore | SqlSessionStore,
        *,
        secure_cookie: bool = False,
        throttle: SignInThrottle | None = None,
        verify: Callable[[str, str], bool] = verify_password,
        max_concurrent_hashes: int = 2,
        max_waiting_hashes: int = 32,
        tokens: TokenStore | SqlTokenStore | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.tokens = tokens or TokenStore()
        self.secure_cookie = secure_cookie
        self.throttle = throttle or SignInThrottle()
        self._verify = verify
        self._hash_slots = asyncio.Semaphore(max_concurrent_hashes)
        self._max_waiting = max_waiting_hashes
        self._waiting = 0

    def session(self, request: Request, response: Response | None = None) -> Session:
        """The request's session; a new anonymous one (cookie set on ``response``) if none."""
        session = self.store.get(request.cookies.get(COOKIE))
        if session is None:
            session = self.store.new()
            if response is not None:
                self.set_cookie(response, session)
        return session

    def set_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            session.id,
            httponly=True,
            samesite="strict",
            secure=self.secure_cookie,
            path="/",
        )

    async def sign_in(self, name: str, password: str, *, address: str) -> Session | None:
        """A new signed-in session, or ``None`` for a wrong name or password.

        Raises ``Throttled`` while the name or the address is locked out after failures.
        """
        name = name[:_MAX_NAME]
        keys = self.throttle.keys(name, address)
        wait = self.throttle.retry_after(keys)
        if wait > 0:
            audit.warning("sign-in throttled: user=%s address=%s for %.0f s", name, address, wait)
            raise Throttled(wait, "too many failed sign-ins")
        user = self.config.user(name)
        # Verify against a dummy hash for unknown users too, so timing does not reveal names.
        stored = user.password_hash if user else "scrypt$16384$8$1$00$00"
        if not await self._check(password, stored) or user is None:
            lock = self.throttle.failure(keys)
            audit.warning(
                "sign-in refused: user=%s address=%s%s",
                name,
                address,
                f"; locked for {lock:.0f} s" if lock else "",
            )
            return None
        self.throttle.success(keys[0])
        audit.info("signed in: user=%s address=%s", name, address)
        return self.store.new(user=user.name)

    async def _check(self, password: str, stored: str) -> bool:
        """The password check, in a worker thread, at most ``max_concurrent_hashes`` at once."""
        if self._waiting >= self._max_waiting:
            raise Throttled(1.0, "the server is busy checking other sign-ins")
        self._waiting += 1
        try:
            async with self._hash_slots:
                return await anyio.to_thread.run_sync(self._verify, password, stored)
        finally:
            self._waiting -= 1

    def user(self, request: Request) -> User | None:
        """Who makes the request: the bearer of a personal API token (as that person, with the
        token's roles they still hold), else the signed-in session's person."""
        token = bearer(request)
        if token is not None:
            return self._token_user(token, request)
        session = self.store.get(request.cookies.get(COOKIE))
        if session is None or session.user is None:
            return None
        return self.config.user(session.user)

    def _token_user(self, token: str, request: Request) -> User | None:
        info = self.tokens.check(token)
        user = self.config.user(info.user) if info else None
        roles = tuple(r for r in info.roles if user and r in user.roles) if info else ()
        if info is None or user is None or not roles:
            audit.warning(
                "API token refused: token=%s path=%s (unknown, revoked, or its user or roles "
                "are gone)", token_id(token) or "malformed", request.url.path,
            )
            return None
        return user.model_copy(update={"roles": roles})

    def require_user(self, request: Request) -> User:
        user = self.user(request)
        if user is None:
            detail = (
                "the API token is not valid (unknown or revoked); create one in the web UI "
                "under Tokens" if bearer(request) is not None else "sign in first"
            )
            raise HTTPException(status_code=401, detail=detail)
        return user

    def check_csrf(self, request: Request, token: str | None) -> None:
        if bearer(request) is not None:
            # A bearer token is never sent by a browser on its own (unlike the cookie), so a forged
            # cross-site request cannot carry it: the token itself is the proof. Its validity is
            # checked with the user (401 when it is not valid).
            return
        session = self.store.get(request.cookies.get(COOKIE))
        supplied = token or request.headers.get("x-csrf-token") or ""
        # Compared as bytes: compare_digest refuses str with non-ASCII characters (a forged token).
        if session is None or not supplied or not hmac.compare_digest(
            supplied.encode(), session.csrf.encode()
        ):
            who = session.user if session and session.user else "anonymous"
            audit.warning(
                "refused: missing or wrong CSRF token user=%s path=%s", who, request.url.path
            )
            raise HTTPException(
                status_code=403, detail="missing or invalid CSRF token; reload the page"
            )


def bearer(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, ``None`` without one."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()
