"""Names and constants shared by the Locust users and the plain-asyncio drivers.

Kept free of Locust and gevent imports: importing Locust monkey-patches the whole process,
which the plain asyncio side of a benchmark must never be.
"""

MEDIA = "media"
"""The request type of every media measurement, so they sort together in the report."""

# Metric names: fixed strings, never a room, identity or visit id (low cardinality).
CHECK = "bandwidth check"
JOIN = "join"
PUBLISH = "publish camera+mic"
FIRST_FRAME = "first remote video frame"
VIDEO_KBPS = "received video kbps"
VIDEO_FPS = "received video fps"
AUDIO_KBPS = "received audio kbps"
LOSS_BP = "packet loss (basis points)"
"""Lost packets per 10,000 sent, so Locust's integer buckets resolve 0.01 %."""

CHECK_ATTEMPTS = 2
"""Connection checks a simulated victim runs before giving up on video (the page's "Try again")."""

OFFICER_RGB, VICTIM_RGB = (200, 40, 40), (40, 40, 200)
ELIGIBILITY = (
    "risk_assessment_clear",
    "adult_or_guardian",
    "offender_not_present",
    "smartphone_with_video",
    "network_adequate",
)
