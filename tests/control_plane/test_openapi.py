"""The OpenAPI 3.1 document is true: every route is in it, and responses match its schemas."""

from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from control_plane.routes import ROUTES
from tests.support.stack import Api

PROBES = {"/healthz", "/readyz", "/metrics"}


def _validator(doc: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    resource = Resource.from_contents(doc, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("doc", resource)
    return jsonschema.Draft202012Validator(
        {"$ref": f"doc#/components/schemas/{name}"}, registry=registry
    )


async def test_every_served_route_is_documented_and_nothing_else(api: Api) -> None:
    doc = await api.ok("GET", "/api/v1/openapi.json")
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    # Every API route and probe; the HTML pages and their static assets are not the API.
    served = {
        (route.method, route.resource.canonical)
        for route in api.stack.app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        and (route.resource.canonical.startswith("/api/") or route.resource.canonical in PROBES)
    }
    assert doc["openapi"] == "3.1.0"
    assert served == documented


async def test_the_document_is_valid_openapi_3_1(api: Api) -> None:
    doc = await api.ok("GET", "/api/v1/openapi.json")
    validate(doc, cls=OpenAPIV31SpecValidator)


async def test_documented_schemas_are_valid_json_schema(api: Api) -> None:
    doc = await api.ok("GET", "/api/v1/openapi.json")
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("who", ["alice", "sarge"])
async def test_responses_match_the_documented_schemas(api: Api, who: str) -> None:
    doc = await api.ok("GET", "/api/v1/openapi.json")

    def check(name: str, body: Any) -> None:
        _validator(doc, name).validate(body)

    visit = await api.eligible_visit()
    vid = visit["id"]
    check("Visit", visit)
    check("Visit", await api.ok("GET", f"/api/v1/visits/{vid}", who="alice"))
    check("VisitList", await api.ok("GET", "/api/v1/visits", who=who))
    check("EventList", await api.ok("GET", f"/api/v1/visits/{vid}/events", who="alice"))
    check("AuditList", await api.ok("GET", f"/api/v1/visits/{vid}/audit", who="alice"))
    check("Officer", await api.ok("GET", "/api/v1/me", who=who))
    link = await api.ok("POST", f"/api/v1/visits/{vid}/links", who="alice", json={}, expect=201)
    check("Link", link)
    joined = await api.ok("POST", f"/api/v1/join/{link['url'].rsplit('/', 1)[1]}", expect=201)
    check("ParticipantSession", joined)
    check("Visit", await api.ok("POST", f"/api/v1/visits/{vid}/start", who="alice"))
    check("Token", await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice"))
    check("Readiness", await api.ok("GET", "/readyz"))
    status, err = await api.call("GET", "/api/v1/visits/not-a-uuid", who="alice")
    assert status == 404
    check("Error", err)


def test_the_route_table_has_no_duplicates() -> None:
    keys = [(r.method, r.path) for r in ROUTES]
    assert len(keys) == len(set(keys))


async def test_the_throttled_route_documents_429_and_only_it(api: Api) -> None:
    doc = await api.ok("GET", "/api/v1/openapi.json")
    with_429 = {
        (method.upper(), path)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if "429" in op["responses"]
    }
    assert with_429 == {(r.method, r.path) for r in ROUTES if r.throttled}
    assert ("POST", "/api/v1/join/{code}") in with_429
    refused = doc["paths"]["/api/v1/join/{code}"]["post"]["responses"]["429"]
    assert refused["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
    assert refused["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
