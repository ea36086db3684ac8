"""``kong.nginx.shared``: one per-worker key-value store with ngx.shared.DICT's API.

Kong's Python PDK reaches ``ngx.shared`` through ``kong.nginx.shared.*``;
purekong gives every plugin of a worker process one dictionary, with nginx's
semantics: values are strings, numbers or booleans; ``exptime`` in seconds
(0: never); when the dictionary is full the least recently used entries are
evicted and ``set`` reports it (nginx's ``forcible``), ``add``/``safe_*`` never
evict.  The capacity is a byte budget (``SharedDict.capacity``, 5 MiB like
Kong's ``kong`` shm), so it never grows without bound.  It is locked, because
plugin phases may run on several threads.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable

from ._errors import LuaError
from ._registry import pdk_function

DEFAULT_CAPACITY = 5 * 1024 * 1024
_ENTRY_OVERHEAD = 64  # bytes counted per entry beyond its key and value


def _size(key: str, value: object) -> int:
    return len(key) + (len(value) if isinstance(value, (str, bytes)) else 8) + _ENTRY_OVERHEAD


class SharedDict:
    """An ngx.shared.DICT in one process. Methods return Lua's ``(value, err)``."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[Any, float]] = OrderedDict()  # key -> (value, expires at or 0)
        self._used = 0

    # -- internals, called with the lock held
    def _live(self, key: str) -> tuple[Any, float] | None:
        item = self._items.get(key)
        if item is not None and item[1] and item[1] <= self._clock():
            self._drop(key)
            return None
        return item

    def _drop(self, key: str) -> None:
        value, _ = self._items.pop(key)
        self._used -= _size(key, value)

    def _store(self, key: str, value: Any, exptime: float, evict: bool) -> tuple[bool, str | None, bool]:
        need = _size(key, value)
        if key in self._items:
            self._drop(key)
        if need > self.capacity:
            return False, "no memory", False
        forcible = False
        while self._used + need > self.capacity:
            if not evict:
                return False, "no memory", False
            self._drop(next(iter(self._items)))
            forcible = True
        self._items[key] = (value, self._clock() + exptime if exptime else 0.0)
        self._used += need
        return True, None, forcible

    @staticmethod
    def _check(key: object, value: object = None) -> str:
        if not isinstance(key, str):
            raise LuaError("bad argument #1 to 'shared' (string expected)")
        if key == "":
            raise LuaError("key must not be empty")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise LuaError("bad value type")
        return key

    # -- nginx's API
    def get(self, key: str) -> Any:
        self._check(key)
        with self._lock:
            item = self._live(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def set(self, key: str, value: Any, exptime: float = 0) -> tuple[bool, str | None, bool]:
        self._check(key, value)
        with self._lock:
            if value is None:  # nginx: setting nil deletes
                if self._live(key) is not None:
                    self._drop(key)
                return True, None, False
            return self._store(key, value, exptime, evict=True)

    def safe_set(self, key: str, value: Any, exptime: float = 0) -> tuple[bool, str | None]:
        self._check(key, value)
        with self._lock:
            ok, err, _ = self._store(key, value, exptime, evict=False)
            return ok, err

    def add(self, key: str, value: Any, exptime: float = 0) -> tuple[bool, str | None, bool]:
        self._check(key, value)
        with self._lock:
            if self._live(key) is not None:
                return False, "exists", False
            return self._store(key, value, exptime, evict=True)

    def replace(self, key: str, value: Any, exptime: float = 0) -> tuple[bool, str | None, bool]:
        self._check(key, value)
        with self._lock:
            if self._live(key) is None:
                return False, "not found", False
            return self._store(key, value, exptime, evict=True)

    def incr(self, key: str, value: float, init: float | None = None, init_ttl: float = 0) -> tuple[Any, str | None]:
        self._check(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise LuaError("cannot add a non-number value")
        with self._lock:
            item = self._live(key)
            if item is None:
                if init is None:
                    return None, "not found"
                new, ttl = init + value, init_ttl
            else:
                if not isinstance(item[0], (int, float)) or isinstance(item[0], bool):
                    return None, "not a number"
                new, ttl = item[0] + value, (max(item[1] - self._clock(), 0.001) if item[1] else 0)
            ok, err, _ = self._store(key, new, ttl, evict=True)
            return (new, None) if ok else (None, err)

    def delete(self, key: str) -> None:
        self._check(key)
        with self._lock:
            if key in self._items:
                self._drop(key)

    def ttl(self, key: str) -> tuple[float | None, str | None]:
        self._check(key)
        with self._lock:
            item = self._live(key)
            if item is None:
                return None, "not found"
            return (max(item[1] - self._clock(), 0.0) if item[1] else 0), None

    def expire(self, key: str, exptime: float) -> tuple[bool | None, str | None]:
        self._check(key)
        with self._lock:
            item = self._live(key)
            if item is None:
                return None, "not found"
            self._items[key] = (item[0], self._clock() + exptime if exptime else 0.0)
            return True, None

    def get_keys(self, max_count: int = 1024) -> list[str]:
        with self._lock:
            now = self._clock()
            keys = [k for k, (_, exp) in self._items.items() if not exp or exp > now]
            return keys if max_count == 0 else keys[:max_count]

    def flush_all(self) -> None:
        with self._lock:
            self._items.clear()
            self._used = 0

    def free_space(self) -> int:
        with self._lock:
            return self.capacity - self._used


#: The one dictionary of this worker process (each forked worker has its own, as
#: purekong's workers share no memory; nginx's is shared across workers).
WORKER_SHARED = SharedDict()


@pdk_function("kong.nginx.shared.get")
def shared_get(ctx, key):
    return WORKER_SHARED.get(key), None


def _set_like(method):
    def impl(ctx, key, value, exptime=0, flags=None):
        ok, err, _forcible = method(key, value, exptime)
        return (True if ok else None), err
    return impl


for _name in ("set", "add", "replace"):
    pdk_function(f"kong.nginx.shared.{_name}")(_set_like(getattr(WORKER_SHARED, _name)))


@pdk_function("kong.nginx.shared.safe_set")
def shared_safe_set(ctx, key, value, exptime=0, flags=None):
    ok, err = WORKER_SHARED.safe_set(key, value, exptime)
    return (True if ok else None), err


@pdk_function("kong.nginx.shared.incr")
def shared_incr(ctx, key, value, init=None, init_ttl=0):
    return WORKER_SHARED.incr(key, value, init, init_ttl)


@pdk_function("kong.nginx.shared.delete")
def shared_delete(ctx, key):
    WORKER_SHARED.delete(key)
    return None, None


@pdk_function("kong.nginx.shared.ttl")
def shared_ttl(ctx, key):
    return WORKER_SHARED.ttl(key)


@pdk_function("kong.nginx.shared.expire")
def shared_expire(ctx, key, exptime):
    return WORKER_SHARED.expire(key, exptime)


@pdk_function("kong.nginx.shared.get_keys")
def shared_get_keys(ctx, max_count=1024):
    return WORKER_SHARED.get_keys(max_count), None


@pdk_function("kong.nginx.shared.flush_all")
def shared_flush_all(ctx):
    WORKER_SHARED.flush_all()
    return None, None


@pdk_function("kong.nginx.shared.free_space")
def shared_free_space(ctx):
    return WORKER_SHARED.free_space(), None


@pdk_function("kong.nginx.shared.capacity")
def shared_capacity(ctx):
    return WORKER_SHARED.capacity, None
