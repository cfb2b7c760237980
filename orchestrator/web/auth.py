"""Sign-in sessions and CSRF tokens.

Sessions live in the orchestrator's memory (one process serves the UI); the cookie holds only a
random session id, HttpOnly and SameSite=Strict. Every session, signed in or not, has a CSRF token
that every POST must carry (form field ``csrf_token`` or header ``X-CSRF-Token``).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request, Response

from orchestrator.config import PlantConfig, User
from orchestrator.passwords import verify_password

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


class Auth:
    """Sign-in, sign-out and the request checks the routes depend on."""

    def __init__(
        self, config: PlantConfig, store: SessionStore, *, secure_cookie: bool = False
    ) -> None:
        self.config = config
        self.store = store
        self.secure_cookie = secure_cookie

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

    def sign_in(self, name: str, password: str) -> Session | None:
        user = self.config.user(name)
        # Verify against a dummy hash for unknown users too, so timing does not reveal names.
        stored = user.password_hash if user else "scrypt$16384$8$1$00$00"
        if not verify_password(password, stored) or user is None:
            audit.warning("sign-in refused: user=%s", name)
            return None
        audit.info("signed in: user=%s", name)
        return self.store.new(user=user.name)

    def user(self, request: Request) -> User | None:
        session = self.store.get(request.cookies.get(COOKIE))
        if session is None or session.user is None:
            return None
        return self.config.user(session.user)

    def require_user(self, request: Request) -> User:
        user = self.user(request)
        if user is None:
            raise HTTPException(status_code=401, detail="sign in first")
        return user

    def check_csrf(self, request: Request, token: str | None) -> None:
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
