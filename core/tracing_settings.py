"""Tracing settings, parsed from the standard `OTEL_*` environment variables.

Parsed once by `core.settings.load_settings`; `core.telemetry` builds the
tracer provider from the result and never reads the environment itself.

Unlike the OpenTelemetry default, nothing is exported unless asked for: set
`OTEL_TRACES_EXPORTER=otlp`, or an OTLP endpoint. Only OTLP over HTTP (protobuf) is
supported, as that is the exporter installed.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

Compression = Literal["gzip", "deflate"]
SAMPLERS = frozenset(
    {
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    }
)
DEFAULT_ENDPOINT = "http://localhost:4318"
TRACES_PATH = "/v1/traces"


class TracingSettingsError(ValueError):
    """An `OTEL_*` variable has a value this service cannot use."""


@dataclass(frozen=True, kw_only=True)
class TracingSettings:
    exporter: Literal["otlp"] | None = None
    """None: spans are made (trace ids reach the logs) but sent nowhere."""
    endpoint: str = DEFAULT_ENDPOINT + TRACES_PATH
    """The full OTLP/HTTP traces URL."""
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """Sent with every export, e.g. an Authorization header for a hosted collector."""
    timeout: float = 10.0
    """Seconds per export request."""
    compression: Compression | None = None
    certificate_file: Path | None = None
    client_key_file: Path | None = None
    client_certificate_file: Path | None = None
    service_name: str | None = None
    """None: each process names itself (evr-control-plane, evr-recorder)."""
    resource_attributes: tuple[tuple[str, str], ...] = ()
    sampler: str = "parentbased_always_on"
    sampler_ratio: float = 1.0
    """The ratio of the `*traceidratio` samplers."""


def _pairs(raw: str, name: str) -> tuple[tuple[str, str], ...]:
    """Parse the W3C-baggage-like `k=v,k2=v2` lists of OTEL_*_HEADERS and resource attributes."""
    pairs: list[tuple[str, str]] = []
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise TracingSettingsError(f"{name} must be a list of key=value pairs")
        pairs.append((unquote(key.strip()), unquote(value.strip())))
    return tuple(pairs)


def _get(environ: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    """The first of `names` that is set and not blank, with its name (for messages)."""
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return None


def _signal(environ: Mapping[str, str], suffix: str) -> tuple[str, str] | None:
    # The traces-specific variable wins over the generic one, as the spec says.
    return _get(environ, f"OTEL_EXPORTER_OTLP_TRACES_{suffix}", f"OTEL_EXPORTER_OTLP_{suffix}")


def _exporter(environ: Mapping[str, str]) -> Literal["otlp"] | None:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    chosen = _get(environ, "OTEL_TRACES_EXPORTER")
    if chosen is None:
        endpoint = _get(
            environ, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return "otlp" if endpoint else None
    names = {n.strip().lower() for n in chosen[1].split(",") if n.strip()}
    if names <= {"none"}:
        return None
    if names != {"otlp"}:
        raise TracingSettingsError(
            f"OTEL_TRACES_EXPORTER={chosen[1]!r}: only 'otlp' (or 'none') is supported"
        )
    return "otlp"


def _endpoint(environ: Mapping[str, str]) -> str:
    specific = _get(environ, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if specific:
        url = specific[1]
    else:
        generic = _get(environ, "OTEL_EXPORTER_OTLP_ENDPOINT")
        # The generic endpoint is a base URL; the signal's path is appended to it.
        url = (generic[1] if generic else DEFAULT_ENDPOINT).rstrip("/") + TRACES_PATH
    if not url.startswith(("http://", "https://")):
        raise TracingSettingsError(f"the OTLP traces endpoint must be an http(s) URL, not {url!r}")
    return url


def _timeout(environ: Mapping[str, str]) -> float:
    found = _signal(environ, "TIMEOUT")
    if found is None:
        return TracingSettings.timeout
    name, raw = found
    try:
        millis = float(raw)
    except ValueError as exc:
        raise TracingSettingsError(f"{name} must be a number of milliseconds") from exc
    if millis <= 0:
        raise TracingSettingsError(f"{name} must be positive")
    # The spec gives milliseconds (the Python SDK alone reads seconds; we follow the spec).
    return millis / 1000


def _compression(environ: Mapping[str, str]) -> Compression | None:
    found = _signal(environ, "COMPRESSION")
    if found is None or found[1].lower() == "none":
        return None
    name, raw = found
    if raw.lower() == "gzip":
        return "gzip"
    if raw.lower() == "deflate":
        return "deflate"
    raise TracingSettingsError(f"{name} must be gzip, deflate or none")


def _sampler(environ: Mapping[str, str]) -> tuple[str, float]:
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower() or TracingSettings.sampler
    if name not in SAMPLERS:
        allowed = ", ".join(sorted(SAMPLERS))
        raise TracingSettingsError(f"OTEL_TRACES_SAMPLER must be one of: {allowed}")
    ratio = TracingSettings.sampler_ratio
    raw = environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    if raw and name.endswith("traceidratio"):
        try:
            ratio = float(raw)
        except ValueError as exc:
            raise TracingSettingsError("OTEL_TRACES_SAMPLER_ARG must be a number") from exc
        if not 0 <= ratio <= 1:
            raise TracingSettingsError("OTEL_TRACES_SAMPLER_ARG must be between 0 and 1")
    return name, ratio


def _path(environ: Mapping[str, str], suffix: str) -> Path | None:
    found = _signal(environ, suffix)
    return Path(found[1]) if found else None


def parse_tracing(environ: Mapping[str, str]) -> TracingSettings:
    """Build TracingSettings from the `OTEL_*` variables in `environ`."""
    protocol = _signal(environ, "PROTOCOL")
    if protocol and protocol[1] != "http/protobuf":
        raise TracingSettingsError(
            f"{protocol[0]}={protocol[1]!r}: only http/protobuf (OTLP over HTTP) is supported"
        )
    headers = _signal(environ, "HEADERS")
    service = environ.get("OTEL_SERVICE_NAME", "").strip() or None
    sampler, ratio = _sampler(environ)
    return TracingSettings(
        exporter=_exporter(environ),
        endpoint=_endpoint(environ),
        headers=_pairs(headers[1], headers[0]) if headers else (),
        timeout=_timeout(environ),
        compression=_compression(environ),
        service_name=service,
        resource_attributes=_pairs(
            environ.get("OTEL_RESOURCE_ATTRIBUTES", ""), "OTEL_RESOURCE_ATTRIBUTES"
        ),
        sampler=sampler,
        sampler_ratio=ratio,
        certificate_file=_path(environ, "CERTIFICATE"),
        client_key_file=_path(environ, "CLIENT_KEY"),
        client_certificate_file=_path(environ, "CLIENT_CERTIFICATE"),
    )
