"""glibc's malloc in the recorder: fewer arenas, and free memory handed back to the system.

The recorder's native threads come and go (x264's per segment, LiveKit's per room), and
glibc gives threads up to 8 arenas per core, each keeping what it freed. In the 30-minute
soak (BENCHMARKS.md, "Soak") each recorder grew by ~600 MiB per 10 minutes in such
arenas, not in the Python heap. Both calls are glibc's own (``mallopt``, ``malloc_trim``);
on another C library they do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_ARENA_MAX = -8  # malloc.h
ARENAS = 2  # what MALLOC_ARENA_MAX=2 gives: the main arena and one for every other thread
TRIM_EVERY = 60.0  # seconds between malloc_trim calls


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas (call before native threads start); True if it took."""
    return _LIBC is not None and _LIBC.mallopt(_M_ARENA_MAX, arenas) == 1


def rss_bytes() -> int:
    """This process's resident set size."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def trim() -> int | None:
    """Hand free malloc memory of every arena back to the system: the bytes RSS fell by
    (None without glibc). Blocks for as long as glibc walks its arenas: run it off the loop."""
    if _LIBC is None:
        return None
    before = rss_bytes()
    _LIBC.malloc_trim(0)
    return max(0, before - rss_bytes())
