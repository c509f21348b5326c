"""A synthetic participant says when its own sync mark may not have gone out as planned, so a
recording test can set that statement aside instead of blaming the recorder."""

from loadtests.media import SYNC_SLACK, SyntheticParticipant


def _participant(marker: float | None = 100.0) -> SyntheticParticipant:
    return SyntheticParticipant(rgb=(1, 2, 3), marker=marker)


async def test_a_mark_sent_on_time_is_not_doubted() -> None:
    p = _participant()
    p.flash_late = 0.004
    p.audio_stalled_at = 100.5  # a stall after the click does not move it
    assert p.sync_mark_doubtful() is None


async def test_a_late_or_missing_flash_is_doubted() -> None:
    p = _participant()
    assert "flash" in (p.sync_mark_doubtful() or "")
    p.flash_late = SYNC_SLACK + 0.01
    assert "flash" in (p.sync_mark_doubtful() or "")


async def test_a_mic_that_ran_dry_before_the_click_is_doubted() -> None:
    p = _participant()
    p.flash_late = 0.0
    p.audio_stalled_at = 99.0
    assert "ran dry" in (p.sync_mark_doubtful() or "")


async def test_no_mark_no_doubt() -> None:
    assert _participant(marker=None).sync_mark_doubtful() is None
