"""An EVR visit played end to end by Locust users, over the control plane and the real SFU.

One `VisitUser` is one visit at a time, so the user count is the number of concurrent
visits. Each iteration: the officer creates the visit, records the choice and eligibility,
sends the link and starts the room; the victim opens the link (and runs the bandwidth check
when the control plane has one) and gets a token; both join the SFU with the Python realtime
SDK, publish a synthetic camera and mic, see each other and hold the call; optionally the
statement is recorded; the officer ends the visit.

HTTP calls go through Locust's own client and are reported by it under their route templates.
Media is driven in the media agents (loadtests/agent.py); `MediaClient` turns each of their
answers, timings taken in the agent, into a Locust request event under a fixed name,
including failures, which it records rather than raises.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import gevent
from locust import HttpUser, constant, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import LocalRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

from loadtests.agentclient import AgentError, AgentProcess, close_pool, pool_for
from loadtests.names import (
    AUDIO_KBPS,
    CHECK,
    CHECK_ATTEMPTS,
    ELIGIBILITY,
    FIRST_FRAME,
    JOIN,
    LOSS_BP,
    MEDIA,
    OFFICER_RGB,
    PUBLISH,
    VICTIM_RGB,
    VIDEO_FPS,
    VIDEO_KBPS,
)
from loadtests.options import VisitOptions  # importing it registers the options

__all__ = ["MediaClient", "VisitAborted", "VisitUser"]

T = TypeVar("T")


def _together(*calls: Callable[[], T]) -> list[T]:
    """Run `calls` in greenlets of their own and wait for all; if this greenlet is killed
    (Locust stopping the user), kill them too, so none outlives the user."""
    greenlets = [gevent.spawn(call) for call in calls]
    try:
        gevent.joinall(greenlets, raise_error=True)
    finally:
        gevent.killall(greenlets)
    return [g.value for g in greenlets]


class VisitAborted(Exception):
    """A step failed (and was reported); the rest of this visit is skipped."""


@dataclass
class Participant:
    key: str
    role: str
    identity: str = ""
    joined: bool = False


class MediaClient:
    """Times media operations in an agent and reports them as Locust request events.

    Like a protocol client wrapped for Locust: each call fires `environment.events.request`
    once per measurement, with `exception` set on failure, and returns None instead of
    raising, so a failed join is a failure in the statistics, not a crashed user."""

    def __init__(
        self,
        environment: Environment,
        agent: AgentProcess,
        opts: VisitOptions,
        *,
        checker: AgentProcess | None = None,
    ) -> None:
        self.environment = environment
        self.agent = agent
        self.opts = opts
        # The connection check needs the Python SDK; the Go agent only carries the call.
        self.checker = checker or agent

    def _fire(self, name: str, value: float, exception: Exception | None = None) -> None:
        self.environment.events.request.fire(  # type: ignore[no-untyped-call]
            request_type=MEDIA,
            name=name,
            response_time=value,
            response_length=0,
            exception=exception,
            context={},
        )

    def _call(
        self,
        name: str,
        op: str,
        args: dict[str, Any],
        timeout: float,
        *,
        agent: AgentProcess | None = None,
    ) -> Any:
        start = time.perf_counter()
        try:
            return (agent or self.agent).call(op, args, timeout=timeout)
        except AgentError as exc:
            # A failure has no agent-side timing; report how long it took to fail.
            self._fire(name, (time.perf_counter() - start) * 1000, exc)
            return None

    def join(self, who: Participant, token: dict[str, Any]) -> bool:
        """Connect `who` with a token from the control plane and publish camera and mic,
        within the publish caps the token came with (the victim's, from their check)."""
        o = self.opts
        width, height, fps, bitrate = o.width, o.height, o.fps, o.max_bitrate
        caps = token.get("publish_caps")
        if caps:
            if width > caps["max_width"] or height > caps["max_height"]:
                width, height = caps["max_width"], caps["max_height"]
            fps = min(fps, caps["max_framerate"])
            bitrate = min(bitrate, caps["max_bitrate"])
        result = self._call(
            JOIN,
            "join",
            {
                "participant": who.key,
                "url": token["url"],
                "token": token["token"],
                "rgb": OFFICER_RGB if who.role == "officer" else VICTIM_RGB,
                "tone_hz": 440.0 if who.role == "officer" else 660.0,
                "width": width,
                "height": height,
                "fps": fps,
                "max_bitrate": bitrate,
                "noise": o.noise,
                "video": o.video,
                "simulcast": o.simulcast,  # the Go agent's; the Python agent ignores it
                "audio": True,
                "timeout": o.media_timeout,
            },
            # Connect and publish each get the media timeout; the agent enforces both.
            timeout=2 * o.media_timeout + 5,
        )
        who.joined = True  # even a failed join may have left a room half-open in the agent
        if result is None:
            return False
        who.identity = str(result["identity"])
        self._fire(JOIN, result["join_s"] * 1000)
        self._fire(PUBLISH, result["publish_s"] * 1000)
        return True

    def check(self, api_base: str, session: str) -> dict[str, Any] | None:
        """Run the victim's connection check; return the verdict, or None if it failed."""
        result = self._call(
            CHECK,
            "check",
            {"api_base": api_base, "session": session},
            timeout=90,
            agent=self.checker,
        )
        if result is None:
            return None
        verdict: dict[str, Any] = result["verdict"]
        wanted_video = self.opts.video
        if verdict.get("verdict") == "insufficient" or (
            wanted_video and not verdict.get("video_capable")
        ):
            error = AgentError(f"check verdict {verdict.get('verdict')}: {verdict.get('reasons')}")
            self._fire(CHECK, result["check_s"] * 1000, error)
            return None
        self._fire(CHECK, result["check_s"] * 1000)
        return verdict

    def first_frame(self, who: Participant, remote: Participant) -> bool:
        result = self._call(
            FIRST_FRAME,
            "first_frame",
            {
                "participant": who.key,
                "remote": remote.identity,
                "since": remote.key,
                "timeout": self.opts.media_timeout,
            },
            timeout=self.opts.media_timeout + 5,
        )
        if result is None:
            return False
        self._fire(FIRST_FRAME, result["first_frame_s"] * 1000)
        return True

    def measure(self, who: Participant, seconds: float) -> None:
        result = self._call(
            LOSS_BP,
            "measure",
            {"participant": who.key, "seconds": seconds},
            timeout=seconds + 15,
        )
        if result is None:
            return
        if result["packets"] == 0:
            self._fire(LOSS_BP, 0, AgentError(f"no RTP packets received in {seconds:.0f}s"))
            return
        self._fire(LOSS_BP, result["loss_fraction"] * 10_000)
        if self.opts.video:
            fps = result["video_fps"]
            low = fps < self.opts.fps / 2
            self._fire(VIDEO_FPS, fps, AgentError(f"video at {fps:.1f} fps") if low else None)
            self._fire(VIDEO_KBPS, result["video_kbps"])
        self._fire(AUDIO_KBPS, result["audio_kbps"])

    def leave(self, who: Participant) -> None:
        if who.joined:
            who.joined = False
            try:
                self.agent.call("leave", {"participant": who.key}, timeout=20)
            except AgentError as exc:
                self._fire("leave", 0, exc)


class EvrUser(HttpUser):
    """Base for users that talk to the EVR control plane: options and JSON helpers."""

    abstract = True
    _serial: ClassVar[itertools.count[int]] = itertools.count()

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)  # type: ignore[no-untyped-call]
        self.opts = VisitOptions.from_parsed(environment.parsed_options)
        self.serial = next(EvrUser._serial)
        self.officer_token = self.opts.officer_tokens[self.serial % len(self.opts.officer_tokens)]

    def api(
        self,
        method: str,
        path: str,
        *,
        name: str,
        expect: int = 200,
        bearer: str | None = None,
        anonymous: bool = False,
        json: Any = None,
    ) -> Any:
        """One control-plane call as the officer (or with `bearer`, or `anonymous`), reported
        under `name`, the route template. Returns the decoded body; a wrong status is reported
        as a failure and raises VisitAborted."""
        headers = {} if anonymous else {"Authorization": f"Bearer {bearer or self.officer_token}"}
        with self.client.request(
            method, path, name=name, headers=headers, json=json, catch_response=True
        ) as resp:
            if resp.status_code != expect:
                resp.failure(f"{resp.status_code} (expected {expect}): {resp.text[:200]}")
                raise VisitAborted(name)
            body = resp.json() if resp.text else None
            resp.success()
            return body


class VisitUser(EvrUser):
    """One officer and one victim playing a visit, over and over."""

    wait_time = constant(1)

    def on_start(self) -> None:
        kind = self.opts.media_agent
        pool = pool_for(self.environment, self.opts.media_agents, kind)
        self.agent = pool.acquire(participants=2)
        checker = None
        if kind != "python" and self.opts.bandwidth_check:
            # One Python agent per Locust process runs the victims' checks.
            checker = pool_for(self.environment, 1, "python").acquire(participants=0)
        self.media = MediaClient(self.environment, self.agent, self.opts, checker=checker)
        self.visit_id: str | None = None
        self.started = False
        self.people: list[Participant] = []
        self.visits_done = 0

    def on_stop(self) -> None:
        self._finish(reason="load test stopped")
        pool = pool_for(self.environment, self.opts.media_agents, self.opts.media_agent)
        pool.release(self.agent, participants=2)

    @task
    def visit(self) -> None:
        try:
            self._play()
        except VisitAborted:
            pass  # already reported where it failed
        finally:
            self._finish(reason="statement taken (load test)")
        self.visits_done += 1
        if self.opts.visits_per_user and self.visits_done >= self.opts.visits_per_user:
            runner = self.environment.runner
            # In a local run the last user still running ends the run; the others just stop.
            # A worker never quits on its own (its last statistics would be lost): in
            # distributed mode --run-time ends the run.
            if isinstance(runner, LocalRunner) and runner.user_count <= 1:
                # Locust rewrites its CSV files once a second and not again at exit: give it
                # time to write this visit's last requests before quitting.
                gevent.spawn_later(2 * CSV_STATS_INTERVAL_SEC, runner.quit)
            raise StopUser

    def _checked(self, session: str) -> bool:
        """The victim's connection check. A failed one is run once more, as the join page's
        "Try again" lets a victim do; every attempt, failed or not, is in the statistics."""
        return any(
            self.media.check(self.host or "", session) is not None for _ in range(CHECK_ATTEMPTS)
        )

    def _play(self) -> None:
        v = "/api/v1/visits/{visit_id}"
        visit = self.api(
            "POST",
            "/api/v1/visits",
            name="/api/v1/visits",
            expect=201,
            json={
                "crime_reference": f"LOAD/{self.serial}",
                "scheduled_at": "2026-11-28T14:00:00Z",
                "contact": {"channel": "sms", "value": "+447700900123"},
            },
        )
        self.visit_id = vid = str(visit["id"])
        base = f"/api/v1/visits/{vid}"
        self.api("POST", f"{base}/choice", name=f"{v}/choice", json={"choice": "video"})
        for item in ELIGIBILITY:
            self.api(
                "PUT",
                f"{base}/eligibility/{item}",
                name=f"{v}/eligibility/{{item}}",
                json={"value": True},
            )
        link = self.api("POST", f"{base}/links", name=f"{v}/links", expect=201, json={})
        code = str(link["url"]).rsplit("/", 1)[1]
        # The victim opens the link.
        joined = self.api(
            "POST", f"/api/v1/join/{code}", name="/api/v1/join/{code}", expect=201, anonymous=True
        )
        session = str(joined["session"])
        self.api("POST", f"{base}/start", name=f"{v}/start")
        self.started = True
        officer_token = self.api("POST", f"{base}/token", name=f"{v}/token")
        if self.opts.bandwidth_check and not self._checked(session):
            raise VisitAborted(CHECK)
        victim_token = self.api(
            "POST",
            "/api/v1/participant/token",
            name="/api/v1/participant/token",
            bearer=session,
            json={"mode": "video" if self.opts.video else "audio_only"},
        )
        officer = Participant(key=f"{vid}:officer", role="officer")
        victim = Participant(key=f"{vid}:victim", role="victim")
        self.people = [officer, victim]
        # The officer is in the room first, as on a real call; then the victim arrives.
        if not self.media.join(officer, officer_token):
            raise VisitAborted(JOIN)
        if not self.media.join(victim, victim_token):
            raise VisitAborted(JOIN)
        if self.opts.video:
            seen = _together(
                lambda: self.media.first_frame(officer, victim),
                lambda: self.media.first_frame(victim, officer),
            )
            if not all(seen):
                raise VisitAborted(FIRST_FRAME)
        if self.opts.record:
            # The officer records the victim's spoken consent, then starts the statement.
            self.api(
                "POST",
                f"{base}/recording/consent",
                name=f"{v}/recording/consent",
                expect=201,
                json={"identity": victim.identity},
            )
            self.api("POST", f"{base}/recording/start", name=f"{v}/recording/start", expect=202)
        held = 0.0
        while held < self.opts.hold:
            window = min(self.opts.stats_window, self.opts.hold - held)
            _together(
                functools.partial(self.media.measure, officer, window),
                functools.partial(self.media.measure, victim, window),
            )
            held += window
        if self.opts.record:
            self.api("POST", f"{base}/recording/stop", name=f"{v}/recording/stop", expect=202)

    def _finish(self, *, reason: str) -> None:
        # As on a real call the officer ends the visit while both are still in the room (the
        # control plane closes the room); the participants leave after.
        self._end_visit(reason)
        for person in self.people:
            self.media.leave(person)
        self.people = []

    def _end_visit(self, reason: str) -> None:
        if self.visit_id is not None:
            vid, self.visit_id = self.visit_id, None
            # A visit that never opened its room is cancelled rather than ended.
            action = "end" if self.started else "cancel"
            self.started = False
            with contextlib.suppress(VisitAborted):  # already reported as a failed request
                self.api(
                    "POST",
                    f"/api/v1/visits/{vid}/{action}",
                    name=f"/api/v1/visits/{{visit_id}}/{action}",
                    json={"reason": reason},
                )


class SampleLog:
    """Appends each media measurement to a JSON-lines file: the exact values, which Locust's
    statistics keep only as rounded percentiles. Used by the benchmarks and the capacity run."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed at quitting

    def on_request(
        self, request_type: str, name: str, response_time: float, exception: Any, **_kw: Any
    ) -> None:
        if request_type == MEDIA:
            row = {"t": time.time(), "name": name, "value": response_time, "ok": exception is None}
            if exception is not None:
                row["error"] = str(exception)
            self.file.write(json.dumps(row) + "\n")
            self.file.flush()


@events.init.add_listener  # type: ignore[untyped-decorator]
def _log_samples(environment: Environment, **_kw: Any) -> None:
    path = getattr(environment.parsed_options, "media_samples", "")
    if path:
        log = SampleLog(path)
        environment.events.request.add_listener(log.on_request)  # type: ignore[no-untyped-call]
        environment.events.quitting.add_listener(lambda **_: log.file.close())  # type: ignore[no-untyped-call]


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def _close_agents(environment: Environment, **_kw: Any) -> None:
    close_pool(environment)
