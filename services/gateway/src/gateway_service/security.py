"""API keys: random, shown once, stored as their SHA-256 hash, each with a role (viewer < analyst < admin)."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from sqlalchemy import Engine, select

from credit_shared.contracts.envelope import new_id, utc_now
from credit_shared.db import make_sessionmaker
from gateway_service.tables import ApiKey

log = logging.getLogger(__name__)

KEY_PREFIX = "ck_"


class Role(IntEnum):
    """Roles, ordered: each one may do what the ones below it may."""

    VIEWER = 1  # read everything
    ANALYST = 2  # build datasets, train, score
    ADMIN = 3  # promote, delete

    @classmethod
    def parse(cls, name: str) -> Role:
        """The role called ``name`` (``viewer``, ``analyst``, ``admin``).

        Raises:
            ValueError: for an unknown role.
        """
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown role {name!r}; known: viewer, analyst, admin") from None

    @property
    def label(self) -> str:
        """The role's name in lower case."""
        return self.name.lower()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name and role."""

    key_id: str
    name: str
    role: Role


def hash_key(key: str) -> str:
    """The SHA-256 hex digest stored for ``key``."""
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    """A new random API key (256 bits of entropy)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyStore:
    """API keys in the ``api_keys`` table, with a short in-memory cache of verified keys."""

    def __init__(self, engine: Engine, *, cache_s: float = 30.0) -> None:
        self._sessions = make_sessionmaker(engine)
        self._cache_s = cache_s
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()

    def create(self, name: str, role: Role) -> tuple[str, Principal]:
        """Create a key; the key itself is returned here and never again.

        Returns:
            The key and its principal.
        """
        key = generate_key()
        principal = Principal(key_id=new_id()[:32], name=name, role=role)
        with self._sessions.begin() as session:
            session.add(ApiKey(key_id=principal.key_id, name=name, role=role.label, key_hash=hash_key(key)))
        log.info("created API key %s (%s) with role %s", principal.key_id, name, role.label)
        return key, principal

    def upsert(self, key_id: str, name: str, role: Role, key: str) -> None:
        """Register a key chosen elsewhere (development keys, bootstrap administrator key) under ``key_id``."""
        digest = hash_key(key)
        with self._sessions.begin() as session:
            clash = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest, ApiKey.key_id != key_id))
            if clash is not None:
                session.delete(clash)
                session.flush()
            row = session.get(ApiKey, key_id)
            if row is None:
                session.add(ApiKey(key_id=key_id, name=name, role=role.label, key_hash=digest))
            else:
                row.name, row.role, row.key_hash, row.revoked_at = name, role.label, digest, None
        self.clear_cache()

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; False when there is no such key."""
        with self._sessions.begin() as session:
            row = session.get(ApiKey, key_id)
            if row is None:
                return False
            row.revoked_at = utc_now()
        self.clear_cache()
        return True

    def cached(self, key: str) -> tuple[bool, Principal | None]:
        """``(True, principal or None)`` when the key's verdict is remembered, ``(False, None)`` otherwise.

        The event loop's fast path: a remembered key needs no database, so no worker thread.
        """
        digest = hash_key(key)
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return True, cached[0]
        return False, None

    def verify(self, key: str) -> Principal | None:
        """The principal of a valid, unrevoked key, else None."""
        digest = hash_key(key)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        with self._sessions() as session:
            row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)))
        principal = None if row is None else Principal(row.key_id, row.name, Role.parse(row.role))
        with self._lock:
            if len(self._cache) > 10_000:  # bounded: wrong keys must not grow memory without limit
                self._cache.clear()
            self._cache[digest] = (principal, now + self._cache_s)
        return principal

    def clear_cache(self) -> None:
        """Forget every verified key (after a change)."""
        with self._lock:
            self._cache.clear()


def load_dev_keys(store: KeyStore, path: Path) -> list[str]:
    """Register the development keys of ``path`` (``{"viewer": key, "analyst": key, "admin": key}``).

    Returns:
        The roles registered.

    Raises:
        ValueError: when the file is not such a JSON object.
    """
    try:
        keys = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read the development keys file {path}: {exc}") from exc
    if not isinstance(keys, dict) or not all(isinstance(v, str) and v for v in keys.values()):
        raise ValueError(f"{path} must hold a JSON object of role -> key")
    roles = []
    for role_name, key in keys.items():
        role = Role.parse(role_name)
        store.upsert(f"dev-{role.label}", f"development {role.label}", role, key)
        roles.append(role.label)
    return roles
