"""Who may see a visit: the one rule, for a single visit and as the filter of a list query.

An officer sees their own visits; a supervisor also sees every visit of their unit. An
evidence manager also sees the sealed evidence of every visit (not the visits themselves).
Whatever a caller may not see is reported as absent (404), so its existence does not leak.

The rule works on principals only, so it does not care which authenticator made them.
"""

from sqlalchemy import ColumnElement, or_
from sqlalchemy.ext.asyncio import AsyncConnection

from control_plane.auth import Principal
from control_plane.errors import NotFound
from control_plane.visit_records import Visit, load_visit
from core import schema
from core.domain import OfficerRole


def can_see(principal: Principal, *, officer_id: str, unit: str) -> bool:
    """True if ``principal`` may see a visit owned by ``officer_id`` in ``unit``."""
    if principal.officer_id == officer_id:
        return True
    return principal.role is OfficerRole.SUPERVISOR and principal.unit == unit


def can_see_evidence(principal: Principal, *, officer_id: str, unit: str) -> bool:
    """True if ``principal`` may see the evidence of such a visit: :func:`can_see`, or any
    visit's for an evidence manager."""
    return principal.role is OfficerRole.EVIDENCE_MANAGER or can_see(
        principal, officer_id=officer_id, unit=unit
    )


def visible_visits(principal: Principal) -> ColumnElement[bool]:
    """:func:`can_see` as a WHERE clause on ``schema.visits``, for list queries."""
    v = schema.visits
    own: ColumnElement[bool] = v.c.officer_id == principal.officer_id
    if principal.role is OfficerRole.SUPERVISOR:
        return or_(own, v.c.unit == principal.unit)
    return own


async def visible_visit(conn: AsyncConnection, principal: Principal, visit_id: str) -> Visit:
    """The visit, if ``principal`` may see it; otherwise :class:`NotFound`, as if absent."""
    visit = await load_visit(conn, visit_id)
    if visit is None or not can_see(principal, officer_id=visit.officer_id, unit=visit.unit):
        raise NotFound(f"no visit {visit_id}")
    return visit
