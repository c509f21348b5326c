"""OpenAPI response schemas of the connection check (merged into control_plane.openapi)."""

from typing import Any

_NUM_NULL = {"type": ["number", "null"]}
_TS = {"type": "string", "format": "date-time"}
_VERDICT = {"enum": ["hd", "sd", "audio_only", "insufficient"]}
_OFFERED = {"type": "array", "items": {"enum": ["video", "audio_only", "in_person"]}}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


_MEASUREMENTS = _obj(
    ["uplink", "downlink", "rtt", "webrtc"],
    uplink=_obj(
        ["kbps", "bytes", "seconds"],
        kbps=_NUM_NULL,
        bytes={"type": "integer"},
        seconds={"type": "number"},
    ),
    downlink=_obj(
        ["kbps", "bytes", "bytes_sent", "seconds"],
        kbps=_NUM_NULL,
        bytes={"type": "integer", "description": "Bytes up to the acknowledged nonce"},
        bytes_sent={"type": "integer"},
        seconds={"type": "number"},
    ),
    rtt=_obj(
        ["median_ms", "samples_ms"],
        median_ms=_NUM_NULL,
        samples_ms={"type": "array", "items": {"type": "number"}},
    ),
    webrtc=_obj(
        ["connected", "video_frames", "fps", "kbps"],
        connected={"type": "boolean", "description": "Video reached the server via the SFU"},
        video_frames={"type": "integer"},
        fps={"type": "number"},
        kbps={"type": "number"},
        packet_loss=_NUM_NULL,
        server_packet_loss=_NUM_NULL,
        phone_packet_loss=_NUM_NULL,
        jitter_ms=_NUM_NULL,
        sfu_quality={"type": ["string", "null"]},
        transport={
            "type": ["object", "null"],
            "description": "Client-reported ICE candidate pair (protocol, candidate_type, "
            "relay_protocol)",
        },
    ),
)

CHECK_SCHEMAS: dict[str, dict[str, Any]] = {
    "PublishCaps": _obj(
        ["max_width", "max_height", "max_bitrate", "max_framerate"],
        max_width={"type": "integer"},
        max_height={"type": "integer"},
        max_bitrate={"type": "integer", "description": "bits per second"},
        max_framerate={"type": "integer"},
    ),
    "CheckPlan": _obj(
        ["check_id", "expires_in", "rtt", "download", "upload", "probe", "finish_path"],
        check_id={"type": "string"},
        expires_in={"type": "number", "description": "Seconds before the check is void"},
        rtt=_obj(["path", "rounds"], path={"type": "string"}, rounds={"type": "integer"}),
        download=_obj(
            ["path", "ack_path", "max_bytes", "max_seconds", "chunk_bytes", "nonce_bytes"],
            path={"type": "string"},
            ack_path={"type": "string"},
            max_bytes={"type": "integer"},
            max_seconds={"type": "number"},
            chunk_bytes={"type": "integer"},
            nonce_bytes={"type": "integer"},
        ),
        upload=_obj(
            ["path", "max_bytes", "max_seconds"],
            path={"type": "string"},
            max_bytes={"type": "integer"},
            max_seconds={"type": "number"},
        ),
        probe=_obj(
            ["url", "token", "room", "seconds", "max_seconds", "status_path", "video"],
            url={"type": "string", "description": "LiveKit WebSocket URL"},
            token={"type": "string", "description": "Camera only, this probe room only"},
            room={"type": "string"},
            seconds={
                "type": "number",
                "description": "Seconds of video the server wants to see arrive",
            },
            max_seconds={"type": "number", "description": "Stop publishing by then at the latest"},
            status_path={"type": "string"},
            video=_obj(
                ["width", "height", "max_bitrate", "max_framerate"],
                width={"type": "integer"},
                height={"type": "integer"},
                max_bitrate={"type": "integer"},
                max_framerate={"type": "integer"},
            ),
        ),
        finish_path={"type": "string"},
    ),
    "CheckRtt": _obj(
        ["nonce", "done", "samples"],
        nonce={"type": ["string", "null"], "description": "Send it back at once; null when done"},
        done={"type": "boolean"},
        samples={"type": "integer"},
    ),
    "CheckProbe": _obj(
        ["subscribed", "frames", "seconds", "done"],
        subscribed={"type": "boolean", "description": "The phone's video reached the SFU"},
        frames={"type": "integer"},
        seconds={"type": "number", "description": "How long video has been arriving"},
        done={"type": "boolean", "description": "Enough seen: stop publishing"},
    ),
    "CheckDownlink": _obj(
        ["downlink_kbps", "bytes", "seconds"],
        downlink_kbps={"type": "number"},
        bytes={"type": "integer"},
        seconds={"type": "number"},
    ),
    "CheckUploadTicket": _obj(
        ["ticket", "max_bytes", "max_seconds"],
        ticket={"type": "string"},
        max_bytes={"type": "integer"},
        max_seconds={"type": "number"},
    ),
    "CheckUplink": _obj(
        ["uplink_kbps", "bytes", "seconds"],
        uplink_kbps={"type": "number"},
        bytes={"type": "integer"},
        seconds={"type": "number"},
    ),
    "CheckVerdict": _obj(
        [
            "check_id",
            "verdict",
            "video_capable",
            "offered",
            "video_preset",
            "publish_caps",
            "uplink_kbps",
            "downlink_kbps",
            "rtt_ms",
            "measurements",
            "reasons",
            "finished_at",
            "valid_until",
        ],
        check_id={"type": "string"},
        verdict=_VERDICT,
        video_capable={"type": "boolean"},
        offered=_OFFERED,
        video_preset={"enum": ["h720", "h540", "h360", None]},
        publish_caps={"oneOf": [{"$ref": "#/components/schemas/PublishCaps"}, {"type": "null"}]},
        uplink_kbps=_NUM_NULL,
        downlink_kbps=_NUM_NULL,
        rtt_ms=_NUM_NULL,
        measurements=_MEASUREMENTS,
        reasons={"type": "array", "items": {"type": "string"}},
        finished_at=_TS,
        valid_until=_TS,
    ),
    "ConnectionCheck": _obj(
        ["check_id", "role", "verdict", "finished_at", "measurements"],
        check_id={"type": "string"},
        role={"type": "string"},
        identity={"type": "string"},
        verdict=_VERDICT,
        video_preset={"enum": ["h720", "h540", "h360", None]},
        uplink_kbps=_NUM_NULL,
        downlink_kbps=_NUM_NULL,
        rtt_ms=_NUM_NULL,
        started_at=_TS,
        finished_at=_TS,
        valid_until=_TS,
        measurements={"type": "object"},
    ),
}
