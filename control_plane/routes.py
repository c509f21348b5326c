"""Every route, declared once. The app and the OpenAPI document are both built from this table."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web
from pydantic import BaseModel

from control_plane import pages
from control_plane.api import (
    journey,
    officer,
    participant,
    programme,
    recording,
    schemas,
    system,
)
from control_plane.bandwidth import handlers as check

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Auth(StrEnum):
    NONE = "none"
    OFFICER = "officer"
    PARTICIPANT = "participant"
    LIVEKIT = "livekit"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    auth: Auth
    body: type[BaseModel] | None = None
    response: str | None = None
    """Name of the response schema in the OpenAPI components."""
    status: int = 200
    tags: tuple[str, ...] = field(default=())
    in_openapi: bool = True
    """False for HTML pages and their assets, which are not part of the API."""
    body_required: bool = True
    """False where the JSON body may be left out and defaults apply."""


V = "/api/v1/visits/{visit_id}"
P = "/api/v1/participant"
E = "/api/v1/evidence/{evidence_id}"
C = P + "/check/{check_id}"

ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/healthz",
        system.healthz,
        "Liveness: the process is up",
        Auth.NONE,
        tags=("system",),
    ),
    Route(
        "GET",
        "/readyz",
        system.readyz,
        "Readiness: the database and the SFU answer",
        Auth.NONE,
        response="Readiness",
        tags=("system",),
    ),
    Route("GET", "/metrics", system.metrics, "Prometheus metrics", Auth.NONE, tags=("system",)),
    Route(
        "GET", "/api/v1/openapi.json", system.openapi, "This document", Auth.NONE, tags=("system",)
    ),
    Route(
        "POST",
        "/api/v1/livekit/webhook",
        system.livekit_webhook,
        "LiveKit webhook receiver (signed by the SFU)",
        Auth.LIVEKIT,
        tags=("sfu",),
    ),
    Route(
        "GET",
        "/api/v1/me",
        officer.whoami,
        "The authenticated officer",
        Auth.OFFICER,
        response="Officer",
        tags=("officer",),
    ),
    Route(
        "POST",
        "/api/v1/visits",
        officer.create_visit,
        "Offer a video visit",
        Auth.OFFICER,
        body=schemas.CreateVisit,
        response="Visit",
        status=201,
        tags=("officer",),
    ),
    Route(
        "GET",
        "/api/v1/visits",
        officer.list_visits,
        "Visits the officer may see (own; a supervisor's unit)",
        Auth.OFFICER,
        response="VisitList",
        tags=("officer",),
    ),
    Route(
        "GET", V, officer.get_visit, "One visit", Auth.OFFICER, response="Visit", tags=("officer",)
    ),
    Route(
        "GET",
        V + "/events",
        officer.visit_events,
        "The visit's history",
        Auth.OFFICER,
        response="EventList",
        tags=("officer",),
    ),
    Route(
        "GET",
        V + "/audit",
        officer.visit_audit,
        "DPA s.62 audit entries for the visit",
        Auth.OFFICER,
        response="AuditList",
        tags=("officer",),
    ),
    Route(
        "POST",
        V + "/choice",
        officer.record_choice,
        "Record the victim's choice (video or in person)",
        Auth.OFFICER,
        body=schemas.RecordChoice,
        response="Visit",
        tags=("officer",),
    ),
    Route(
        "PUT",
        V + "/eligibility/{item}",
        officer.record_eligibility,
        "Record one eligibility item",
        Auth.OFFICER,
        body=schemas.RecordEligibility,
        response="Visit",
        tags=("officer",),
    ),
    Route(
        "POST",
        V + "/links",
        officer.create_link,
        "Issue a one-time join link (victim, guardian or interpreter)",
        Auth.OFFICER,
        body=schemas.CreateLink,
        response="Link",
        status=201,
        tags=("officer",),
    ),
    Route(
        "POST",
        V + "/start",
        officer.start_visit,
        "Open the LiveKit room",
        Auth.OFFICER,
        response="Visit",
        tags=("officer",),
    ),
    Route(
        "POST",
        V + "/token",
        officer.officer_token,
        "The officer's LiveKit token",
        Auth.OFFICER,
        response="Token",
        tags=("officer",),
    ),
    Route(
        "POST",
        V + "/end",
        officer.end_visit,
        "End the call and close the room",
        Auth.OFFICER,
        body=schemas.CloseVisit,
        response="Visit",
        tags=("officer",),
    ),
    Route(
        "POST",
        V + "/cancel",
        officer.cancel_visit,
        "Cancel the visit",
        Auth.OFFICER,
        body=schemas.CloseVisit,
        response="Visit",
        tags=("officer",),
    ),
    Route(
        "POST",
        V + "/no-show",
        officer.no_show,
        "Record that the victim did not join",
        Auth.OFFICER,
        response="Visit",
        tags=("officer",),
    ),
    Route(
        "POST",
        "/api/v1/join/{code}",
        participant.exchange_code,
        "Spend a one-time join code for a participant session",
        Auth.NONE,
        response="ParticipantSession",
        status=201,
        tags=("participant",),
    ),
    Route(
        "GET",
        P + "/visit",
        participant.my_visit,
        "The participant's view of the visit",
        Auth.PARTICIPANT,
        response="ParticipantVisit",
        tags=("participant",),
    ),
    Route(
        "POST",
        P + "/choice",
        participant.choose,
        "The victim chooses video or in person",
        Auth.PARTICIPANT,
        body=schemas.RecordChoice,
        response="ParticipantVisit",
        tags=("participant",),
    ),
    Route(
        "POST",
        P + "/eligibility",
        participant.declare,
        "The victim's self-declaration",
        Auth.PARTICIPANT,
        body=schemas.SelfDeclaration,
        response="ParticipantVisit",
        tags=("participant",),
    ),
    Route(
        "POST",
        P + "/token",
        participant.participant_token,
        "A LiveKit token for this visit's room, as the latest connection check allows",
        Auth.PARTICIPANT,
        body=participant.TokenRequest,
        body_required=False,
        response="Token",
        tags=("participant",),
    ),
    # The victim's journey through the join page (issue 3).
    Route(
        "POST",
        P + "/progress",
        journey.report_progress,
        "Report reaching, finishing or failing a step of the join page",
        Auth.PARTICIPANT,
        body=journey.ReportProgress,
        response="Recorded",
        tags=("participant",),
    ),
    Route(
        "POST",
        P + "/consent",
        journey.give_consent,
        "Consent (or not) to the video call, recorded with time and identity",
        Auth.PARTICIPANT,
        body=journey.GiveConsent,
        response="Consent",
        status=201,
        tags=("participant",),
    ),
    Route(
        "POST",
        P + "/quality",
        journey.report_quality,
        "Report a connection-quality change in the call and what the client did about it",
        Auth.PARTICIPANT,
        body=journey.ReportQuality,
        response="Recorded",
        tags=("participant",),
    ),
    Route(
        "GET",
        V + "/progress",
        journey.visit_progress,
        "The victim's progress through the join page, consent and call quality",
        Auth.OFFICER,
        response="Progress",
        tags=("officer",),
    ),
    # Statement recording (issue 4): consent, start/stop, and access to sealed evidence.
    Route(
        "GET",
        V + "/recording",
        recording.recording_state,
        "The visit's latest statement recording and every recording consent",
        Auth.OFFICER,
        response="RecordingState",
        tags=("recording",),
    ),
    Route(
        "POST",
        V + "/recording/consent",
        recording.record_consent,
        "Record a participant's spoken consent to recording, given to the officer",
        Auth.OFFICER,
        body=recording.RecordingConsent,
        response="ConsentList",
        status=201,
        tags=("recording",),
    ),
    Route(
        "POST",
        V + "/recording/start",
        recording.start_recording,
        "Show everyone that recording is on, then start recording the statement",
        Auth.OFFICER,
        response="RecordingState",
        status=202,
        tags=("recording",),
    ),
    Route(
        "POST",
        V + "/recording/stop",
        recording.stop_recording,
        "Stop recording; the recorder seals the Master",
        Auth.OFFICER,
        response="RecordingState",
        status=202,
        tags=("recording",),
    ),
    Route(
        "POST",
        P + "/recording/consent",
        recording.participant_consent,
        "The participant consents to the statement being recorded",
        Auth.PARTICIPANT,
        body=recording.ParticipantRecordingConsent,
        response="ConsentList",
        status=201,
        tags=("participant", "recording"),
    ),
    Route(
        "GET",
        E,
        recording.view_evidence,
        "Sealed evidence: manifest, retention, custody (needs X-Justification; logged)",
        Auth.OFFICER,
        response="Evidence",
        tags=("evidence",),
    ),
    Route(
        "GET",
        E + "/segments/{segment}",
        recording.evidence_segment,
        "A Master segment for playback (needs X-Justification; logged)",
        Auth.OFFICER,
        tags=("evidence",),
    ),
    Route(
        "POST",
        E + "/export",
        recording.export_evidence,
        "Verify and write a disclosure bundle (logged as a disclosure)",
        Auth.OFFICER,
        body=recording.ExportEvidence,
        response="EvidenceExport",
        status=201,
        tags=("evidence",),
    ),
    Route(
        "PUT",
        E + "/review-date",
        recording.set_review_date,
        "Set the MoPI review date (supervisor or evidence manager; logged)",
        Auth.OFFICER,
        body=recording.ReviewDate,
        response="Evidence",
        tags=("evidence",),
    ),
    Route(
        "PUT",
        E + "/legal-hold",
        recording.set_legal_hold,
        "Place or lift a legal hold (supervisor or evidence manager; logged)",
        Auth.OFFICER,
        body=recording.LegalHold,
        response="Evidence",
        tags=("evidence",),
    ),
    Route(
        "POST",
        E + "/delete",
        recording.delete_evidence,
        "Delete the Master after its review date (evidence manager; reason logged)",
        Auth.OFFICER,
        body=recording.DeleteEvidence,
        response="EvidenceDeleted",
        tags=("evidence",),
    ),
    # Programme outcomes (issue 5): the victim's feedback, the officer's outcomes.
    Route(
        "GET",
        P + "/feedback",
        programme.feedback_status,
        "Whether to ask the victim for feedback (open once the call has ended), and the answer",
        Auth.PARTICIPANT,
        response="FeedbackStatus",
        tags=("participant",),
    ),
    Route(
        "POST",
        P + "/feedback",
        programme.give_feedback,
        "The victim's feedback after the call: recommend it, satisfaction 1-5 (once per visit)",
        Auth.PARTICIPANT,
        body=programme.GiveFeedback,
        response="FeedbackStatus",
        status=201,
        tags=("participant",),
    ),
    Route(
        "GET",
        V + "/outcomes",
        programme.visit_outcomes,
        "What followed the visit: arrest or interview, charge or caution, victim withdrew",
        Auth.OFFICER,
        response="VisitOutcomes",
        tags=("officer",),
    ),
    Route(
        "PUT",
        V + "/outcomes",
        programme.record_outcomes,
        "Record the visit's outcomes once it is closed (replaces earlier ones; audited)",
        Auth.OFFICER,
        body=programme.RecordOutcomes,
        response="VisitOutcomes",
        tags=("officer",),
    ),
    # The connection check (issue 3): measured by this server; protocol in control_plane.bandwidth.
    Route(
        "POST",
        P + "/check",
        check.start_check,
        "Start a connection check: its plan, and a camera-only token for the probe room",
        Auth.PARTICIPANT,
        response="CheckPlan",
        status=201,
        tags=("connection check",),
    ),
    Route(
        "POST",
        C + "/rtt",
        check.rtt_round,
        "One RTT round: echo the last nonce, get the next (timed by the server)",
        Auth.PARTICIPANT,
        body=check.RttRound,
        response="CheckRtt",
        tags=("connection check",),
    ),
    Route(
        "GET",
        C + "/probe",
        check.probe_status,
        "How much of the phone's probe video has reached the server (publish until done)",
        Auth.PARTICIPANT,
        response="CheckProbe",
        tags=("connection check",),
    ),
    Route(
        "GET",
        C + "/download",
        check.download,
        "Download chunks (application/octet-stream), each ending in a 32-byte nonce",
        Auth.PARTICIPANT,
        tags=("connection check",),
    ),
    Route(
        "POST",
        C + "/download/ack",
        check.download_ack,
        "Acknowledge the last nonce received; the server times the download to this",
        Auth.PARTICIPANT,
        body=check.DownloadAck,
        response="CheckDownlink",
        tags=("connection check",),
    ),
    Route(
        "POST",
        C + "/upload/ticket",
        check.upload_ticket,
        "Start the upload clock; send the body to .../upload?ticket= at once",
        Auth.PARTICIPANT,
        response="CheckUploadTicket",
        tags=("connection check",),
    ),
    Route(
        "POST",
        C + "/upload",
        check.upload,
        "Upload application/octet-stream; the server stops reading at its caps",
        Auth.PARTICIPANT,
        response="CheckUplink",
        tags=("connection check",),
    ),
    Route(
        "POST",
        C + "/finish",
        check.finish_check,
        "Finish the check: the verdict, stored on the visit",
        Auth.PARTICIPANT,
        body=check.FinishCheck,
        body_required=False,
        response="CheckVerdict",
        tags=("connection check",),
    ),
    # HTML pages and their bundled assets: served here, but not part of the API document.
    Route("GET", "/join", pages.join_page, "Join page", Auth.NONE, in_openapi=False),
    Route("GET", "/join/{code}", pages.join_page, "Join page", Auth.NONE, in_openapi=False),
    Route("GET", "/console", pages.console_page, "Officer console", Auth.NONE, in_openapi=False),
    Route("GET", "/static/assets/{name}", pages.asset, "Page asset", Auth.NONE, in_openapi=False),
)


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
