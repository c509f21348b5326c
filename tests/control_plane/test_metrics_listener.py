"""/metrics is served on the management listener, never on the public one (issue 12,
finding 14): the join funnel and quick exits are not for whoever can reach the join page."""

from pathlib import Path

import yaml

from core.settings import Settings
from tests.support.stack import Api

REPO = Path(__file__).resolve().parents[2]


async def test_the_public_listener_has_no_metrics(api: Api) -> None:
    async with api.session.get(api.stack.base_url + "/metrics") as resp:
        assert resp.status == 404
        assert "evr_join_funnel" not in await resp.text()


async def test_the_management_listener_serves_them(api: Api) -> None:
    assert api.stack.metrics_url != api.stack.base_url
    async with api.session.get(api.stack.metrics_url + "/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    assert "evr_join_funnel" in text
    assert "evr_visits{" in text
    # Nothing but metrics there: the API is not reachable through the management port.
    async with api.session.get(api.stack.metrics_url + "/api/v1/visits") as resp:
        assert resp.status == 404


def test_by_default_the_management_listener_is_on_loopback() -> None:
    fields = Settings.__dataclass_fields__
    assert fields["metrics_host"].default == "127.0.0.1"
    assert fields["metrics_port"].default != fields["port"].default


def test_the_shipped_scrape_config_scrapes_the_management_port() -> None:
    config = yaml.safe_load((REPO / "monitoring" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "evr-control-plane"]
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    default = Settings.__dataclass_fields__["metrics_port"].default
    assert targets == [f"127.0.0.1:{default}"]
