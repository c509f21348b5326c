"""What the victim's page is told about who is calling: the officer's rank and name from the
officer account, their collar number, and the crime reference; no contact details."""

from control_plane.auth import add_officer, create_api_token
from control_plane.keys import ENGINE
from core.domain import OfficerRole
from tests.support.stack import Api


async def _open_link(api: Api, token: str, reference: str) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"}
    visit = await api.ok(
        "POST",
        "/api/v1/visits",
        headers=headers,
        expect=201,
        json={
            "crime_reference": reference,
            "scheduled_at": "2026-11-28T14:00:00Z",
            "contact": {"channel": "sms", "value": "+447700900777"},
        },
    )
    link = await api.ok(
        "POST", f"/api/v1/visits/{visit['id']}/links", headers=headers, json={}, expect=201
    )
    joined = await api.ok("POST", "/api/v1/join/" + link["url"].rsplit("/", 1)[1], expect=201)
    view: dict[str, object] = joined["visit"]
    return view


async def test_the_victim_sees_rank_name_collar_and_reference(api: Api) -> None:
    engine = api.stack.app[ENGINE]
    await add_officer(
        engine,
        collar_number="4321",
        display_name="Jo Smith",
        unit="EVR-EAST",
        role=OfficerRole.OFFICER,
        rank="PC",
    )
    token = await create_api_token(engine, collar_number="4321", label="test")
    view = await _open_link(api, token, "CR/2026/4321")
    assert view["officer_rank"] == "PC"
    assert view["officer_name"] == "Jo Smith"
    assert view["officer_collar"] == "4321"
    assert view["crime_reference"] == "CR/2026/4321"
    assert "contact" not in view


async def test_an_account_without_a_rank_shows_the_name_alone(api: Api) -> None:
    view = await _open_link(api, api.stack.tokens["alice"], "CR/2026/4322")
    assert view["officer_rank"] is None
    assert view["officer_name"] == "alice"
