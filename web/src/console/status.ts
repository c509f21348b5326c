// Read-only parts of one visit's view: the recording's state, the victim's progress through
// the join page, the connection check's verdict, and quality changes in the call. Each fills
// the element it is given from the progress answer.

import type { Progress, Recording } from "../api/types";
import { h } from "../common/dom";
import { time } from "./ui";

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

export function renderRecording(target: HTMLElement, rec: Recording | null): void {
  if (!rec) {
    target.replaceChildren(h("p", { class: "muted" }, "Recording: not started."));
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
  target.replaceChildren(...items);
}

export function renderProgress(target: HTMLElement, p: Progress): void {
  // Safeguarding signals (quick exit, not safe to talk, ...) are shown by alerts.ts, at the top.
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
  target.replaceChildren(h("p", {}, opened), list, consent);
}

export function renderCheck(target: HTMLElement, p: Progress): void {
  const c = p.connection_check;
  if (!c) {
    target.replaceChildren(h("p", { "data-testid": "verdict" }, "No connection check yet."));
    return;
  }
  const figures = [
    c.uplink_kbps !== null ? `up ${Math.round(c.uplink_kbps)} kbps` : null,
    c.downlink_kbps !== null ? `down ${Math.round(c.downlink_kbps)} kbps` : null,
    c.rtt_ms !== null ? `RTT ${Math.round(c.rtt_ms)} ms` : null,
  ].filter(Boolean);
  target.replaceChildren(
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

export function renderQuality(target: HTMLElement, p: Progress): void {
  const changes = p.quality.changes;
  if (!changes.length) {
    target.replaceChildren(h("p", { "data-testid": "quality" }, "No quality changes in the call."));
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
  target.replaceChildren(
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
