"""Tracing is configured by the standard OTEL_* variables, parsed once, and off by default."""

from collections.abc import Mapping
from pathlib import Path

import pytest

from core.settings import SettingsError, load_settings
from core.settings import load as settings_load
from core.tracing_settings import TracingSettings, TracingSettingsError, parse_tracing
from sfu_config import write_key_file


def test_nothing_is_exported_by_default() -> None:
    assert parse_tracing({}) == TracingSettings()
    assert parse_tracing({}).exporter is None


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_EXPORTER": "otlp"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"},
    ],
)
def test_otlp_is_switched_on_by_the_exporter_or_an_endpoint(environ: dict[str, str]) -> None:
    assert parse_tracing(environ).exporter == "otlp"


def test_none_and_sdk_disabled_switch_it_off() -> None:
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    assert parse_tracing({**endpoint, "OTEL_TRACES_EXPORTER": "none"}).exporter is None
    assert parse_tracing({**endpoint, "OTEL_SDK_DISABLED": "true"}).exporter is None


def test_endpoints_follow_the_spec() -> None:
    # The generic endpoint is a base URL; the traces one is used as given and wins.
    generic = {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.force.example:4318/"}
    assert parse_tracing(generic).endpoint == "https://otel.force.example:4318/v1/traces"
    both = {**generic, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://other/custom"}
    assert parse_tracing(both).endpoint == "http://other/custom"
    assert parse_tracing({}).endpoint == "http://localhost:4318/v1/traces"


def test_every_option_is_read() -> None:
    settings = parse_tracing(
        {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20abc,x-tenant=evr",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-only=traces",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            "OTEL_EXPORTER_OTLP_CERTIFICATE": "/etc/ssl/collector.pem",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": "evr-cp-east",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,force=dorset",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.25",
        }
    )
    assert settings.headers == (("x-only", "traces"),)
    assert settings.timeout == 2.5  # milliseconds, as the spec says
    assert settings.compression == "gzip"
    assert settings.certificate_file == Path("/etc/ssl/collector.pem")
    assert settings.service_name == "evr-cp-east"
    assert settings.resource_attributes == (
        ("deployment.environment", "prod"),
        ("force", "dorset"),
    )
    assert (settings.sampler, settings.sampler_ratio) == ("parentbased_traceidratio", 0.25)
    generic = parse_tracing({"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20abc"})
    assert generic.headers == (("Authorization", "Basic abc"),)
    assert "Basic" not in repr(generic), "headers carry credentials: keep them out of repr"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "only 'otlp'"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http/protobuf"),
        ({"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "soon"}, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "-1"}, "positive"),
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "gzip, deflate or none"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "key=value"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "http(s) URL"),
        ({"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER must be one of"),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, "between"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(TracingSettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_tracing(environ)


def test_load_settings_parses_tracing_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "keys.yaml"
    write_key_file(key_file, "APIkey", "s" * 40)
    environ = {"EVR_LIVEKIT_KEY_FILE": str(key_file)}
    seen: list[Mapping[str, str]] = []

    def counting(env: Mapping[str, str]) -> TracingSettings:
        seen.append(env)
        return parse_tracing(env)

    monkeypatch.setattr(settings_load, "parse_tracing", counting)
    assert load_settings(None, environ).tracing.exporter is None
    assert seen == [environ], "one parse per load, of the environment it was given"
    on = load_settings(None, {**environ, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert on.tracing.exporter == "otlp"
    with pytest.raises(SettingsError, match="grpc"):
        load_settings(None, {**environ, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
