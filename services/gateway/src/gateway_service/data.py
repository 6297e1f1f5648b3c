"""Data read by the gateway (dataset parts, raw tables), loaded once and kept in a small LRU cache."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


def size_of(value: Any) -> int:
    """Approximate bytes held by a cached value (tables and frames; small objects count as nothing)."""
    nbytes = getattr(value, "nbytes", None)  # pyarrow tables, numpy arrays
    if isinstance(nbytes, int):
        return nbytes
    memory_usage = getattr(value, "memory_usage", None)  # pandas frames
    if callable(memory_usage):
        return int(memory_usage(index=True, deep=False).sum())
    return 0


class DataCache:
    """A thread-safe LRU cache of loaded data keyed by whatever identifies a version (path and mtime ...).

    A key is loaded once even when several requests ask for it at the same time. The least recently used values
    are dropped beyond ``max_items`` values or ``max_bytes`` bytes (the latest value is always kept).
    """

    def __init__(self, max_items: int, max_bytes: int = 2 << 30) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._sizes: dict[Hashable, int] = {}
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}
        self.loads = 0

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The cached value of ``key``, loaded with ``load`` on a miss."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                value: T = self._items[key]
                return value
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:
                    hit: T = self._items[key]
                    return hit
            loaded = load()
            size = size_of(loaded)
            with self._lock:
                self.loads += 1
                self._items[key] = loaded
                self._sizes[key] = size
                self._items.move_to_end(key)
                while len(self._items) > 1 and (
                    len(self._items) > self.max_items or sum(self._sizes.values()) > self.max_bytes
                ):
                    old, _ = self._items.popitem(last=False)
                    self._sizes.pop(old, None)
                self._loading.pop(key, None)
            return loaded

    def drop(self, predicate: Callable[[Hashable], bool]) -> None:
        """Forget every key for which ``predicate`` is true (a deleted dataset, for instance)."""
        with self._lock:
            for key in [k for k in self._items if predicate(k)]:
                del self._items[key]
                self._sizes.pop(key, None)


def json_safe(value: Any) -> Any:
    """A value JSON can carry: NaN and infinities become None, numpy scalars become Python ones."""
    if hasattr(value, "item") and not isinstance(value, list | dict | str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with every value made JSON-safe."""
    return [{k: json_safe(v) for k, v in row.items()} for row in rows]
