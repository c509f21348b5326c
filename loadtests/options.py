"""The load test's own command-line options, and the typed settings read from them.

Locust parses them (so they also appear in the web UI's form and work in a locust.conf), and
the master hands its values to the workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from locust import events
from locust.argument_parser import LocustArgumentParser


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def add_options(parser: LocustArgumentParser, **_kw: Any) -> None:
    # Straight on the parser: Locust's web-UI flags (is_secret) do not pass through groups.
    parser.add_argument(
        "--officer-tokens",
        env_var="EVR_OFFICER_TOKENS",
        default="",
        is_secret=True,
        help="Comma-separated officer API tokens (evr token-create); users take them in turn",
    )
    parser.add_argument(
        "--hold", type=float, default=30.0, help="Seconds each call is held once media flows"
    )
    parser.add_argument(
        "--stats-window",
        type=float,
        default=10.0,
        help="Seconds per received-media measurement while the call is held",
    )
    parser.add_argument("--video-width", type=int, default=960, help="Camera width (540p: 960)")
    parser.add_argument("--video-height", type=int, default=540, help="Camera height")
    parser.add_argument("--video-fps", type=int, default=25, help="Camera frame rate")
    parser.add_argument(
        "--video-kbps", type=int, default=800, help="Camera max bitrate (LiveKit h540: 800)"
    )
    parser.add_argument(
        "--video-noise",
        type=int,
        default=12,
        help="Per-frame noise amplitude, so the encoder uses its bitrate as a camera would",
    )
    parser.add_argument("--no-video", action="store_true", help="Audio only")
    parser.add_argument(
        "--media-timeout", type=float, default=20.0, help="Seconds allowed to join or see video"
    )
    parser.add_argument(
        "--media-agents",
        type=int,
        default=1,
        help="Media agent processes per Locust process (spreads Python's share of the media)",
    )
    parser.add_argument(
        "--media-agent",
        choices=("python", "go"),
        default="python",
        help="python: the realtime SDK encodes and decodes (~0.4 core per participant); go: "
        "loadtests/mediaagent publishes pre-encoded files and counts RTP without decoding",
    )
    parser.add_argument(
        "--simulcast",
        action="store_true",
        help="Go agent: publish 180p and 360p layers under the camera's size",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="Record the statement during the call (needs the recorder running)",
    )
    parser.add_argument(
        "--no-bandwidth-check",
        action="store_true",
        help="Skip the victim's connection check (for a control plane without one)",
    )
    parser.add_argument(
        "--visits-per-user",
        type=int,
        default=0,
        help="Stop each user after this many visits; a local run ends when all have (0: no limit)",
    )
    parser.add_argument(
        "--media-samples",
        default="",
        help="Also append every media measurement to this JSON-lines file (local runs)",
    )
    parser.add_argument("--visits", type=int, default=10, help="Peak concurrent visits")
    parser.add_argument("--ramp-time", type=float, default=120.0, help="Ramp: seconds to peak")
    parser.add_argument("--peak-time", type=float, default=60.0, help="Ramp/spike: seconds at peak")
    parser.add_argument("--soak-time", type=float, default=1800.0, help="Soak: seconds held")
    parser.add_argument(
        "--spike-base", type=int, default=0, help="Spike: visits before and after (0: visits/4)"
    )


@dataclass(frozen=True, kw_only=True)
class VisitOptions:
    officer_tokens: tuple[str, ...]
    hold: float
    stats_window: float
    width: int
    height: int
    fps: int
    max_bitrate: int
    noise: int
    video: bool
    media_timeout: float
    media_agents: int
    media_agent: str
    simulcast: bool
    record: bool
    bandwidth_check: bool
    visits_per_user: int

    @classmethod
    def from_parsed(cls, parsed: Any) -> VisitOptions:
        """Read Locust's parsed options; raises ValueError on values that cannot work."""
        tokens = tuple(t.strip() for t in str(parsed.officer_tokens).split(",") if t.strip())
        if not tokens:
            raise ValueError("--officer-tokens (or EVR_OFFICER_TOKENS) is required")
        if parsed.stats_window <= 0 or parsed.hold < 0:
            raise ValueError("--stats-window must be > 0 and --hold >= 0")
        if parsed.media_agents < 1:
            raise ValueError("--media-agents must be at least 1")
        return cls(
            officer_tokens=tokens,
            hold=float(parsed.hold),
            stats_window=float(parsed.stats_window),
            width=int(parsed.video_width),
            height=int(parsed.video_height),
            fps=int(parsed.video_fps),
            max_bitrate=int(parsed.video_kbps) * 1000,
            noise=int(parsed.video_noise),
            video=not parsed.no_video,
            media_timeout=float(parsed.media_timeout),
            media_agents=int(parsed.media_agents),
            media_agent=str(parsed.media_agent),
            simulcast=bool(parsed.simulcast),
            record=bool(parsed.record),
            bandwidth_check=not parsed.no_bandwidth_check,
            visits_per_user=max(0, int(parsed.visits_per_user)),
        )
