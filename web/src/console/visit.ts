// One visit, opened from the list: its header and controls, the parts filled from the progress
// endpoint (polled), the join link, and the officer's side of the call.

import type { CloseVisit, CreateLink, Link, Progress, RecordChoice, Token, Visit } from "../api/types";
import { ApiError } from "../common/api";
import { button, h } from "../common/dom";
import { renderAlerts, startBlocker, startFailure } from "./alerts";
import { OfficerCall } from "./call";
import { CallView } from "./call-view";
import { renderEligibility } from "./eligibility";
import { exhibitsPanel } from "./stills";
import { api } from "./session";
import { renderCheck, renderProgress, renderQuality, renderRecording } from "./status";
import { action, time } from "./ui";

const POLL_MS = 2000;

export const detailBox = h("section", { class: "card detail", "aria-live": "off" });

let selected: string | null = null;
let poller: number | undefined;
let officerCall: OfficerCall | null = null;
let callView: CallView | null = null;
let lastStatus: string | null = null;
let lastAlerts: string | null = null;
let statusListener: () => void = () => undefined;

/** Call `listener` when the open visit's status changes (the list shows statuses too). */
export function onStatusChange(listener: () => void): void {
  statusListener = listener;
}

function stopPolling(): void {
  if (poller !== undefined) window.clearInterval(poller);
  poller = undefined;
}

/** On sign-out: stop polling and leave the call, if any. */
export function closeForSignOut(): void {
  stopPolling();
  void officerCall?.leave();
  closeCallView();
}

/** Back from the call view to the page behind it. */
function closeCallView(): void {
  callView?.root.remove();
  callView = null;
  const main = document.getElementById("main");
  if (main) main.hidden = false;
}

const parts = {
  header: h("div", {}),
  alerts: h("div", { "data-testid": "visit-alerts" }),
  recording: h("div", {}),
  eligibility: h("div", {}),
  link: h("div", {}),
  interpreter: h("div", { "aria-live": "polite" }),
  /** Kept across re-renders, so a link just created is not wiped by the next poll. */
  interpreterLink: h("div", {}),
  progress: h("div", { "aria-live": "polite" }),
  check: h("div", {}),
  quality: h("div", {}),
  controls: h("div", {}),
  call: h("div", {}),
};

export async function openVisit(id: string): Promise<void> {
  stopPolling();
  if (officerCall && selected !== id) {
    await officerCall.leave();
    officerCall = null;
    closeCallView();
  }
  selected = id;
  lastStatus = null;
  lastAlerts = null;
  parts.link.replaceChildren();
  parts.interpreterLink.replaceChildren();
  delete parts.interpreter.dataset.signature;
  parts.call.replaceChildren();
  detailBox.hidden = false;
  parts.alerts.replaceChildren();
  delete parts.alerts.dataset.signature;
  detailBox.replaceChildren(
    parts.header,
    parts.alerts,
    parts.recording,
    parts.controls,
    h("h3", {}, "Victim's progress"),
    parts.progress,
    h("h3", {}, "Connection"),
    parts.check,
    parts.quality,
    h("h3", {}, "Eligibility"),
    parts.eligibility,
    h("h3", {}, "Join link"),
    parts.link,
    parts.interpreter,
    parts.call,
  );
  renderLinkSection(id);
  await refresh();
  poller = window.setInterval(() => void refresh().catch(() => undefined), POLL_MS);
  parts.header.querySelector("h2")?.focus();
}

async function refresh(): Promise<void> {
  if (!selected) return;
  const p = await api<Progress>(`/api/v1/visits/${selected}/progress`);
  const v = p.visit;
  if (lastStatus !== null && lastStatus !== v.status) statusListener();
  lastStatus = v.status;
  parts.header.replaceChildren(
    h("h2", { tabindex: "-1" }, `Visit ${v.crime_reference}`),
    h(
      "p",
      {},
      "Status: ",
      h("strong", { class: `badge badge--${v.status}`, "data-testid": "visit-status" }, v.status.replace(/_/g, " ")),
      ` · scheduled ${time(v.scheduled_at)}`,
      v.end_reason ? ` · ${v.end_reason}` : "",
    ),
  );
  const alertKinds = p.alerts.map((a) => a.kind).join(",");
  if (lastAlerts !== null && lastAlerts !== alertKinds) statusListener();
  lastAlerts = alertKinds;
  renderAlerts(parts.alerts, p.alerts);
  renderInterpreter(v.id, p);
  renderRecording(parts.recording, v.recording ?? null);
  renderProgress(parts.progress, p);
  renderCheck(parts.check, p);
  renderQuality(parts.quality, p);
  renderEligibility(parts.eligibility, v, refresh);
  renderControls(v, p);
  if (callView && !(v.status === "waiting" || v.status === "live")) {
    // Ended elsewhere (another officer, the supervisor): leave and close the call view.
    await officerCall?.leave();
    officerCall = null;
    closeCallView();
  }
  callView?.update(v, p);
}

/** The victim's request for an interpreter, and the interpreter's own link. */
function renderInterpreter(visitId: string, p: Progress): void {
  const req = p.interpreter_request;
  const signature = req ? `${req.language}|${req.link_issued_at ?? ""}` : "";
  if (parts.interpreter.dataset.signature === signature) return;
  parts.interpreter.dataset.signature = signature;
  if (!req) {
    parts.interpreter.replaceChildren();
    return;
  }
  const out = parts.interpreterLink;
  parts.interpreter.replaceChildren(
    h(
      "div",
      { class: "alert alert--warn", "data-testid": "interpreter-request" },
      h("p", {}, h("strong", {}, `The victim asked for an interpreter: ${req.language}`), ` (at ${time(req.at)}).`),
      req.link_issued_at ? h("p", {}, `Interpreter link created at ${time(req.link_issued_at)}.`) : null,
      h(
        "div",
        { class: "row" },
        action(req.link_issued_at ? "Create a new interpreter link" : "Create interpreter link", async () => {
          const link = await api<Link>(`/api/v1/visits/${visitId}/links`, {
            role: "interpreter",
          } satisfies CreateLink);
          out.replaceChildren(
            h("label", { for: "interpreter-url" }, `Interpreter's link (works once, until ${time(link.expires_at)})`),
            h("input", { id: "interpreter-url", readonly: true, value: link.url, "data-testid": "interpreter-url" }),
          );
        }),
      ),
      out,
    ),
  );
}

function renderLinkSection(id: string): void {
  parts.link.replaceChildren(
    h(
      "p",
      { class: "hint" },
      "This system does not send text messages or e-mails. Copy the link and send it to the victim through your force's own messaging service. A new link replaces the old one.",
    ),
    h(
      "div",
      { class: "row" },
      action("Create join link", async () => {
        const link = await api<Link>(`/api/v1/visits/${id}/links`, {
          role: "victim",
        } satisfies CreateLink);
        const out = h("input", {
          id: "join-url",
          readonly: true,
          value: link.url,
          "data-testid": "join-url",
        });
        const copy = button(
          "Copy link",
          () => {
            out.select();
            void navigator.clipboard?.writeText(link.url).catch(() => undefined);
            copy.textContent = "Copied";
          },
          "secondary",
        );
        parts.link.querySelector(".link-out")?.remove();
        parts.link.append(
          h(
            "div",
            { class: "link-out" },
            h("label", { for: "join-url" }, `Join link (works once, until ${time(link.expires_at)} on ${link.expires_at.slice(0, 10)})`),
            out,
            copy,
          ),
        );
      }),
    ),
  );
}

function renderControls(v: Visit, p: Progress): void {
  const s = v.status;
  const buttons: HTMLElement[] = [];
  if (s === "offered") {
    buttons.push(
      action("Victim chose video", async () => {
        await api(`/api/v1/visits/${v.id}/choice`, { choice: "video" } satisfies RecordChoice);
        await refresh();
      }),
      action(
        "Victim chose in person",
        async () => {
          await api(`/api/v1/visits/${v.id}/choice`, { choice: "in_person" } satisfies RecordChoice);
          await refresh();
        },
        "secondary",
      ),
    );
  }
  const blocker = s === "accepted_video" ? startBlocker(v, p) : null;
  if (s === "accepted_video") {
    const start = action("Start the visit", async () => {
      try {
        await api(`/api/v1/visits/${v.id}/start`, {});
      } catch (err) {
        await refresh().catch(() => undefined);
        throw new Error(startFailure(err, v));
      }
      await refresh();
    });
    if (blocker) {
      // Disabled, with the reason beside it and tied to it, until the visit can start.
      start.disabled = true;
      start.setAttribute("aria-describedby", "start-blocker");
    }
    buttons.push(start);
  }
  if ((s === "waiting" || s === "live") && !officerCall) {
    buttons.push(action("Join the call", async () => joinCall(v.id)));
  }
  if (s === "waiting" || s === "live") {
    const reason = h("input", { id: "end-reason", value: "statement taken", autocomplete: "off" });
    buttons.push(
      h("label", { for: "end-reason" }, "Reason for ending"),
      reason,
      action(
        "End the call",
        async () => {
          await officerCall?.leave();
          officerCall = null;
          parts.call.replaceChildren();
          await api(`/api/v1/visits/${v.id}/end`, {
            reason: reason.value || "ended by officer",
          } satisfies CloseVisit);
          await refresh();
        },
        "warning",
      ),
    );
  }
  // Rebuild only when the set of controls changes, so typing in the reason is not lost.
  const signature = `${s}|${officerCall ? "in-call" : ""}|${blocker ?? ""}`;
  if (parts.controls.dataset.signature === signature) return;
  parts.controls.dataset.signature = signature;
  parts.controls.replaceChildren(h("div", { class: "row controls" }, ...buttons));
  if (blocker) {
    parts.controls.append(h("p", { id: "start-blocker", class: "blocker", "data-testid": "start-blocker" }, blocker));
  }
}

async function endVisit(visitId: string, reason: string): Promise<void> {
  await officerCall?.leave();
  officerCall = null;
  await api(`/api/v1/visits/${visitId}/end`, { reason } satisfies CloseVisit);
  closeCallView();
  await refresh();
}

async function joinCall(visitId: string): Promise<void> {
  const issued = await api<Token>(`/api/v1/visits/${visitId}/token`, {});
  const reference = parts.header.querySelector("h2")?.textContent?.replace(/^Visit /, "") ?? "";
  const view = new CallView(visitId, reference, {
    end: (reason) => endVisit(visitId, reason),
    refresh,
  });
  callView = view;
  // The call view takes the screen; the page behind it is hidden until it closes.
  document.body.append(view.root);
  view.root.append(exhibitsPanel(visitId, view.root));
  const main = document.getElementById("main");
  if (main) main.hidden = true;
  view.root.querySelector<HTMLElement>("h2")?.focus();
  // After an SFU restart, a fresh token for the same visit (no new link); none once it closed.
  const renew = async (): Promise<{ url: string; token: string } | null> => {
    try {
      return await api<Token>(`/api/v1/visits/${visitId}/token`, {});
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) return null;
      throw err;
    }
  };
  officerCall = new OfficerCall(view.stageElement, (text) => view.setStatus(text), renew);
  try {
    await officerCall.start(issued.url, issued.token);
  } catch (err) {
    officerCall = null;
    closeCallView();
    throw err;
  }
  view.attach(officerCall);
  parts.controls.dataset.signature = "";
  await refresh();
}
