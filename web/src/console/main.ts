// The officer's console: today's visits, creating one, eligibility, the join link, the victim's
// progress through the join page, and the call itself. Signs in with an officer bearer token
// (a local API token or an OIDC access token), kept in sessionStorage only.

import "../styles/console.css";

import { ApiError, call } from "../common/api";
import { button, h } from "../common/dom";
import { OfficerCall } from "./call";

const TOKEN_KEY = "evr.console.token";
const POLL_MS = 2000;

const main = document.getElementById("main") as HTMLElement;
const whoami = document.getElementById("whoami") as HTMLElement;
const signOut = document.getElementById("sign-out") as HTMLButtonElement;

interface Officer {
  officer_id: string;
  collar_number: string;
  display_name: string;
  unit: string;
  role: string;
}

interface Eligibility {
  item: string;
  value: boolean;
  recorded_by: string;
  recorded_at: string;
}

interface Recording {
  status: string;
  secured: boolean;
  problem?: string | null;
}

interface Visit {
  id: string;
  crime_reference: string;
  scheduled_at: string;
  status: string;
  room_name: string | null;
  eligibility: { entries: Eligibility[]; missing: string[] };
  recording?: Recording | null;
  end_reason?: string | null;
}

interface StepView {
  step: string;
  state: string;
  at: string | null;
  detail: string;
}

interface QualityChange {
  at: string;
  quality: string;
  action: string;
  video_layer: string;
}

interface Progress {
  status: string;
  link_opened_at: string | null;
  steps: StepView[];
  current_step: string | null;
  safe_to_talk: boolean | null;
  consent: { consented: boolean; recorded_at: string; notice_version: string } | null;
  quality: { current: QualityChange | null; changes: QualityChange[] };
  quick_exit_at: string | null;
  left_at: string | null;
  visit: Visit;
  connection_check: {
    verdict: string;
    uplink_kbps: number | null;
    downlink_kbps: number | null;
    rtt_ms: number | null;
    finished_at: string;
  } | null;
}

const ELIGIBILITY_LABELS: Record<string, string> = {
  risk_assessment_clear: "Risk assessment: no immediate threat, risk or harm",
  adult_or_guardian: "18 or over, or a parent or guardian present",
  offender_not_present: "Offender not present",
  smartphone_with_video: "Smartphone with video",
  network_adequate: "Connection adequate",
};

const STEP_LABELS: Record<string, string> = {
  choice: "1. Video or in person",
  eligibility: "2. Eligibility questions",
  consent: "3. Consent to the call",
  preview: "4. Camera and microphone",
  check: "5. Connection check",
  join: "6. Joining the call",
};

const VERDICT_LABELS: Record<string, string> = {
  hd: "HD video (720p)",
  sd: "SD video (360p/540p)",
  audio_only: "Audio only",
  insufficient: "Insufficient: offer an in-person visit",
};

let token = sessionStorage.getItem(TOKEN_KEY);
let me: Officer | null = null;
let selected: string | null = null;
let poller: number | undefined;
let officerCall: OfficerCall | null = null;
let lastStatus: string | null = null;
let currentDay = new Date().toISOString().slice(0, 10);

function api<T>(path: string, body?: unknown, method?: "GET" | "POST" | "PUT"): Promise<T> {
  return call<T>(path, { bearer: token, body, method });
}

function time(iso: string | null | undefined): string {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
}

function alertBox(message: string, kind: "error" | "ok" | "warn" = "error"): HTMLElement {
  return h("div", { class: `alert alert--${kind}`, role: kind === "error" ? "alert" : "status" }, message);
}

/** Run `work` from a button, showing failures beside the button instead of losing them. */
function action(label: string, work: () => Promise<void>, variant = "primary"): HTMLButtonElement {
  const b = button(
    label,
    () => {
      b.disabled = true;
      b.parentElement?.querySelector(":scope > .alert--error")?.remove();
      work()
        .catch((err: unknown) => {
          b.parentElement?.append(
            alertBox(err instanceof ApiError ? err.message : `Failed: ${String(err)}`),
          );
        })
        .finally(() => {
          b.disabled = false;
        });
    },
    variant as "primary",
  );
  return b;
}

// ---------------------------------------------------------------- sign-in

function renderSignIn(message?: string): void {
  whoami.textContent = "";
  signOut.hidden = true;
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    required: true,
    "aria-describedby": "token-hint",
  });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    message ? alertBox(message) : null,
    h("label", { for: "token" }, "Officer token"),
    h(
      "p",
      { id: "token-hint", class: "hint" },
      "Your local API token (evr_…) or your force sign-in (OIDC) access token. It is kept only in this browser tab.",
    ),
    input,
    h("div", { class: "row" }, h("button", { type: "submit", class: "button button--primary" }, "Sign in")),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = input.value.trim();
    void start();
  });
  main.replaceChildren(form);
  input.focus();
}

async function start(): Promise<void> {
  if (!token) {
    renderSignIn();
    return;
  }
  try {
    me = await api<Officer>("/api/v1/me");
  } catch (err) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    renderSignIn(err instanceof ApiError ? err.message : "Sign-in failed");
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  whoami.textContent = `${me.display_name} · collar ${me.collar_number} · ${me.unit}`;
  signOut.hidden = false;
  renderHome();
}

signOut.addEventListener("click", () => {
  stopPolling();
  void officerCall?.leave();
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  me = null;
  renderSignIn();
});

// ---------------------------------------------------------------- visits list and create

function todayUtc(): string {
  return new Date().toISOString().slice(0, 10);
}

const listBox = h("section", { class: "card", "aria-labelledby": "visits-title" });
const detailBox = h("section", { class: "card detail", "aria-live": "off" });

function renderHome(): void {
  main.replaceChildren(
    h("h1", {}, "Video visits"),
    h("div", { class: "columns" }, h("div", {}, listBox, renderCreate()), detailBox),
  );
  detailBox.hidden = true;
  void loadList(todayUtc());
}

async function loadList(day: string): Promise<void> {
  currentDay = day;
  const dayInput = h("input", { id: "day", type: "date", value: day });
  dayInput.addEventListener("change", () => void loadList(dayInput.value || todayUtc()));
  const { visits } = await api<{ visits: Visit[] }>(`/api/v1/visits?date=${encodeURIComponent(day)}`);
  const rows = visits.map((v) =>
    h(
      "tr",
      {},
      h("td", {}, time(v.scheduled_at)),
      h("td", {}, v.crime_reference),
      h("td", {}, h("span", { class: `badge badge--${v.status}` }, v.status.replace(/_/g, " "))),
      h(
        "td",
        {},
        button("Open", () => void openVisit(v.id), "quiet", {
          "aria-label": `Open visit ${v.crime_reference}`,
        }),
      ),
    ),
  );
  listBox.replaceChildren(
    h("h2", { id: "visits-title" }, "Visits on"),
    h("label", { for: "day", class: "visually-hidden" }, "Day (UTC)"),
    dayInput,
    visits.length
      ? h(
          "table",
          { class: "visits" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, "Time"),
              h("th", { scope: "col" }, "Reference"),
              h("th", { scope: "col" }, "Status"),
              h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
            ),
          ),
          h("tbody", {}, ...rows),
        )
      : h("p", {}, "No visits on this day."),
  );
}

function field(id: string, label: string, input: HTMLElement, hint?: string): HTMLElement {
  if (hint) input.setAttribute("aria-describedby", `${id}-hint`);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    input,
  );
}

function renderCreate(): HTMLElement {
  const ref = h("input", { id: "crime-ref", name: "crime_reference", required: true, autocomplete: "off" });
  const when = h("input", { id: "when", name: "scheduled_at", type: "datetime-local", required: true });
  const now = new Date(Date.now() - new Date().getTimezoneOffset() * 60000);
  when.value = now.toISOString().slice(0, 16);
  const channel = h(
    "select",
    { id: "channel", name: "channel" },
    h("option", { value: "sms" }, "SMS"),
    h("option", { value: "email" }, "E-mail"),
  );
  const contact = h("input", { id: "contact", name: "contact", required: true, autocomplete: "off" });
  const form = h(
    "form",
    { "aria-labelledby": "create-title", class: "create" },
    h("h2", { id: "create-title" }, "New video visit"),
    field("crime-ref", "Crime or incident reference", ref, "Letters, digits, / _ -"),
    field("when", "Appointment (your local time)", when),
    field("channel", "Contact by", channel),
    field("contact", "Victim's mobile number or e-mail", contact),
    h("div", { class: "row" }, h("button", { type: "submit", class: "button button--primary" }, "Create visit")),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    form.querySelector(".alert")?.remove();
    void (async () => {
      try {
        const visit = await api<Visit>("/api/v1/visits", {
          crime_reference: ref.value,
          scheduled_at: new Date(when.value).toISOString(),
          contact: { channel: channel.value, value: contact.value },
        });
        ref.value = "";
        contact.value = "";
        await loadList(visit.scheduled_at.slice(0, 10));
        await openVisit(visit.id);
      } catch (err) {
        form.append(alertBox(err instanceof ApiError ? err.message : String(err)));
      }
    })();
  });
  return form;
}

// ---------------------------------------------------------------- one visit

function stopPolling(): void {
  if (poller !== undefined) window.clearInterval(poller);
  poller = undefined;
}

const parts = {
  header: h("div", {}),
  recording: h("div", {}),
  eligibility: h("div", {}),
  link: h("div", {}),
  progress: h("div", { "aria-live": "polite" }),
  check: h("div", {}),
  quality: h("div", {}),
  controls: h("div", {}),
  call: h("div", {}),
};

async function openVisit(id: string): Promise<void> {
  stopPolling();
  if (officerCall && selected !== id) {
    await officerCall.leave();
    officerCall = null;
  }
  selected = id;
  lastStatus = null;
  parts.link.replaceChildren();
  parts.call.replaceChildren();
  detailBox.hidden = false;
  detailBox.replaceChildren(
    parts.header,
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
  if (lastStatus !== null && lastStatus !== v.status) void loadList(currentDay).catch(() => undefined);
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
  renderRecording(v.recording ?? null);
  renderProgress(p);
  renderCheck(p);
  renderQuality(p);
  renderEligibility(v);
  renderControls(v);
}

function renderRecording(rec: Recording | null): void {
  if (!rec) {
    parts.recording.replaceChildren(h("p", { class: "muted" }, "Recording: not started."));
    return;
  }
  const items: HTMLElement[] = [];
  if (rec.secured === false) {
    items.push(
      h(
        "div",
        { class: "alert alert--critical", role: "alert", "data-testid": "recording-not-secured" },
        h("strong", {}, "RECORDING NOT SECURED"),
        rec.problem
          ? ` — ${rec.problem}.`
          : rec.status === "requested"
            ? " — waiting for the recorder to join."
            : ".",
        " Do not take the statement until this says secured.",
      ),
    );
  }
  items.push(
    h(
      "p",
      { "data-testid": "recording-status" },
      "Recording: ",
      h("strong", {}, rec.status.replace(/_/g, " ")),
      rec.secured ? " · secured" : "",
    ),
  );
  parts.recording.replaceChildren(...items);
}

function renderProgress(p: Progress): void {
  const alerts: HTMLElement[] = [];
  if (p.quick_exit_at) {
    alerts.push(
      alertBox(
        `The victim used the quick exit at ${time(p.quick_exit_at)}. Follow your safeguarding procedure before contacting them.`,
      ),
    );
  }
  if (p.safe_to_talk === false) {
    alerts.push(alertBox("The victim said it is not safe to talk now."));
  }
  const opened = p.link_opened_at ? `Link opened at ${time(p.link_opened_at)}.` : "Link not opened yet.";
  const list = h(
    "ol",
    { class: "steps", "data-testid": "progress" },
    ...p.steps.map((s) =>
      h(
        "li",
        { class: `steps__item steps__item--${s.state}`, "data-step": s.step, "data-state": s.state },
        h("span", { class: "steps__label" }, STEP_LABELS[s.step] ?? s.step),
        " — ",
        h("span", { class: "steps__state" }, s.state),
        s.at ? ` at ${time(s.at)}` : "",
        s.detail ? ` (${s.detail})` : "",
      ),
    ),
  );
  const consent = p.consent
    ? h(
        "p",
        { "data-testid": "consent" },
        p.consent.consented
          ? `Consent to the call given at ${time(p.consent.recorded_at)} (notice ${p.consent.notice_version}).`
          : `Consent refused at ${time(p.consent.recorded_at)}.`,
      )
    : h("p", { "data-testid": "consent" }, "No consent recorded yet.");
  parts.progress.replaceChildren(...alerts, h("p", {}, opened), list, consent);
}

function renderCheck(p: Progress): void {
  const c = p.connection_check;
  if (!c) {
    parts.check.replaceChildren(h("p", { "data-testid": "verdict" }, "No connection check yet."));
    return;
  }
  const figures = [
    c.uplink_kbps !== null ? `up ${Math.round(c.uplink_kbps)} kbps` : null,
    c.downlink_kbps !== null ? `down ${Math.round(c.downlink_kbps)} kbps` : null,
    c.rtt_ms !== null ? `RTT ${Math.round(c.rtt_ms)} ms` : null,
  ].filter(Boolean);
  parts.check.replaceChildren(
    h(
      "p",
      { "data-testid": "verdict", "data-verdict": c.verdict },
      "Verdict: ",
      h("strong", {}, VERDICT_LABELS[c.verdict] ?? c.verdict),
      ` at ${time(c.finished_at)}`,
      figures.length ? ` · ${figures.join(", ")}` : "",
    ),
  );
}

function renderQuality(p: Progress): void {
  const changes = p.quality.changes;
  if (!changes.length) {
    parts.quality.replaceChildren(h("p", { "data-testid": "quality" }, "No quality changes in the call."));
    return;
  }
  const actionText: Record<string, string> = {
    none: "no change",
    lower_video: "video lowered",
    audio_only: "video paused: audio only",
    raise_video: "video raised",
    video_resumed: "video back on",
  };
  const cur = p.quality.current!;
  parts.quality.replaceChildren(
    h(
      "p",
      { "data-testid": "quality", class: cur.quality === "poor" || cur.quality === "lost" ? "warn" : "" },
      `Victim's connection: ${cur.quality}; ${actionText[cur.action] ?? cur.action} (layer ${cur.video_layer}).`,
    ),
    h(
      "ul",
      { class: "quality-log" },
      ...changes
        .slice(-8)
        .reverse()
        .map((q) => h("li", {}, `${time(q.at)} ${q.quality}: ${actionText[q.action] ?? q.action}`)),
    ),
  );
}

function renderEligibility(v: Visit): void {
  const latest = new Map(v.eligibility.entries.map((e) => [e.item, e]));
  const rows = Object.entries(ELIGIBILITY_LABELS).map(([item, label]) => {
    const e = latest.get(item);
    const state = e ? (e.value ? "met" : "not met") : "not recorded";
    return h(
      "li",
      { class: "elig", "data-item": item },
      h("span", { class: "elig__label" }, label),
      h("span", { class: `elig__state elig__state--${state.replace(/ /g, "-")}` }, state),
      e ? h("span", { class: "hint" }, ` by ${e.recorded_by} at ${time(e.recorded_at)}`) : null,
      h(
        "span",
        { class: "elig__actions" },
        action(
          "Met",
          async () => {
            await api(`/api/v1/visits/${v.id}/eligibility/${item}`, { value: true }, "PUT");
            await refresh();
          },
          "quiet",
        ),
        action(
          "Not met",
          async () => {
            await api(`/api/v1/visits/${v.id}/eligibility/${item}`, { value: false }, "PUT");
            await refresh();
          },
          "quiet",
        ),
      ),
    );
  });
  // Buttons get their item in the accessible name, so "Met" is never ambiguous.
  rows.forEach((row) => {
    const label = row.querySelector(".elig__label")?.textContent ?? "";
    row.querySelectorAll("button").forEach((b) => b.setAttribute("aria-label", `${b.textContent}: ${label}`));
  });
  parts.eligibility.replaceChildren(h("ul", { class: "elig-list" }, ...rows));
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
        const link = await api<{ url: string; expires_at: string }>(`/api/v1/visits/${id}/links`, {
          role: "victim",
        });
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

function renderControls(v: Visit): void {
  const s = v.status;
  const buttons: HTMLElement[] = [];
  if (s === "offered") {
    buttons.push(
      action("Victim chose video", async () => {
        await api(`/api/v1/visits/${v.id}/choice`, { choice: "video" });
        await refresh();
      }),
      action(
        "Victim chose in person",
        async () => {
          await api(`/api/v1/visits/${v.id}/choice`, { choice: "in_person" });
          await refresh();
        },
        "secondary",
      ),
    );
  }
  if (s === "accepted_video") {
    buttons.push(
      action("Start the visit", async () => {
        await api(`/api/v1/visits/${v.id}/start`, {});
        await refresh();
      }),
    );
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
          await api(`/api/v1/visits/${v.id}/end`, { reason: reason.value || "ended by officer" });
          await refresh();
        },
        "warning",
      ),
    );
  }
  // Rebuild only when the set of controls changes, so typing in the reason is not lost.
  const signature = `${s}|${officerCall ? "in-call" : ""}`;
  if (parts.controls.dataset.signature === signature) return;
  parts.controls.dataset.signature = signature;
  parts.controls.replaceChildren(h("div", { class: "row controls" }, ...buttons));
}

async function joinCall(visitId: string): Promise<void> {
  const issued = await api<{ url: string; token: string }>(`/api/v1/visits/${visitId}/token`, {});
  const stage = h("div", { class: "stage", "data-testid": "call-stage" });
  const status = h("p", { role: "status", "data-testid": "call-status" }, "Connecting…");
  parts.call.replaceChildren(h("h3", {}, "Call"), status, stage);
  officerCall = new OfficerCall(stage, (text) => {
    status.textContent = text;
  });
  await officerCall.start(issued.url, issued.token);
  parts.controls.dataset.signature = "";
  await refresh();
}

void start();
