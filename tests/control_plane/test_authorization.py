"""An officer sees and acts on their own visits; a supervisor sees their unit's."""

from tests.support.stack import Api


async def test_officers_see_only_their_own_visits(api: Api) -> None:
    visit = await api.new_visit("alice")
    vid = visit["id"]

    assert (await api.call("GET", f"/api/v1/visits/{vid}", who="alice"))[0] == 200
    # Bob, same unit but not a supervisor: the visit does not exist for him.
    status, body = await api.call("GET", f"/api/v1/visits/{vid}", who="bob")
    assert status == 404
    assert body["error"]["code"] == "not_found"
    assert (
        await api.call("POST", f"/api/v1/visits/{vid}/cancel", who="bob", json={"reason": "x"})
    )[0] == 404
    listed = await api.ok("GET", "/api/v1/visits", who="bob")
    assert vid not in {v["id"] for v in listed["visits"]}


async def test_a_supervisor_sees_their_units_visits_only(api: Api) -> None:
    east = await api.new_visit("alice")
    west = await api.new_visit("carol")

    listed = await api.ok("GET", "/api/v1/visits", who="sarge")
    ids = {v["id"] for v in listed["visits"]}

    assert east["id"] in ids
    assert west["id"] not in ids
    assert (await api.call("GET", f"/api/v1/visits/{east['id']}", who="sarge"))[0] == 200
    assert (await api.call("GET", f"/api/v1/visits/{west['id']}", who="sarge"))[0] == 404


async def test_requests_without_valid_credentials_are_401(api: Api) -> None:
    assert (await api.call("GET", "/api/v1/visits"))[0] == 401
    assert (await api.call("GET", "/api/v1/visits", bearer="evr_wrong"))[0] == 401
    status, body = await api.call("GET", "/api/v1/visits", headers={"Authorization": "Basic abc"})
    assert status == 401
    assert "Bearer" in body["error"]["message"]
    # A participant session is not an officer credential, and vice versa.
    _, session = await api.live_ready_visit()
    assert (await api.call("GET", "/api/v1/visits", bearer=session))[0] == 401
    assert (await api.call("GET", "/api/v1/participant/visit", who="alice"))[0] == 401


async def test_whoami(api: Api) -> None:
    me = await api.ok("GET", "/api/v1/me", who="sarge")
    assert me == {
        "officer_id": "local:2001",
        "collar_number": "2001",
        "display_name": "sarge",
        "unit": "EVR-EAST",
        "role": "supervisor",
    }
