"""glibc's malloc in the recorder (recorder/native_memory.py): memory a finished thread freed
stays resident in its arena until ``trim`` hands it back, which the recorder does every
minute; the arena cap takes."""

from __future__ import annotations

import threading

from recorder import native_memory


def test_the_arena_cap_takes() -> None:
    assert native_memory.limit_arenas(native_memory.ARENAS)


def test_trim_hands_back_what_a_finished_thread_freed() -> None:
    kept: list[bytearray] = []

    def churn() -> None:
        # 100 MB in 1 kB blocks in this thread's arena; the last one kept, so the freed
        # blocks below it are not at the arena's top and glibc's free() keeps them.
        blocks = [bytearray(1000) for _ in range(100_000)]
        kept.append(blocks[-1])
        del blocks

    before = native_memory.rss_bytes()
    thread = threading.Thread(target=churn)
    thread.start()
    thread.join()
    retained = native_memory.rss_bytes() - before
    released = native_memory.trim()
    assert released is not None
    assert retained > 50 << 20  # glibc kept most of it
    assert released > retained // 2  # and trim gave it back
    assert len(kept) == 1
