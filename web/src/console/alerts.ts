// Safeguarding alerts and whether the visit can start, in plain words for the officer.
// The server decides which alerts are active (control_plane/safeguarding.py); this module shows
// them loudly at the top of the visit and says why "Start the visit" is not yet possible.

import type { Progress, SafeguardingAlert, Visit } from "../api/types";
import { ApiError } from "../common/api";
import { h } from "../common/dom";
import { ELIGIBILITY_LABELS } from "./eligibility";
import { time } from "./ui";

export const ALERT_TITLES: Record<SafeguardingAlert["kind"], string> = {
  offender_present: "Offender may be present",
  not_safe_to_talk: "Not safe to talk",
  quick_exit: "Quick exit used",
  media_refused: "Camera or microphone refused",
  victim_waiting: "Victim waiting",
};

/** The alerts banner at the top of the visit; empty when there are none. */
export function renderAlerts(target: HTMLElement, alerts: SafeguardingAlert[]): void {
  const signature = alerts.map((a) => `${a.kind}@${a.at}`).join("|");
  // Rebuilt only when the alerts change, so a screen reader announces each new one once.
  if (target.dataset.signature === signature) return;
  target.dataset.signature = signature;
  if (!alerts.length) {
    target.replaceChildren();
    return;
  }
  target.replaceChildren(
    h(
      "div",
      { class: "safeguarding", role: "alert", "data-testid": "safeguarding-alerts" },
      h("h3", { class: "safeguarding__title" }, "Safeguarding"),
      h(
        "ul",
        {},
        ...alerts.map((a) =>
          h(
            "li",
            { "data-alert": a.kind },
            h("strong", {}, `${ALERT_TITLES[a.kind]} (${time(a.at)}). `),
            a.message,
          ),
        ),
      ),
    ),
  );
}

/** Why the officer cannot start the visit yet, in plain words; null when they can. */
export function startBlocker(v: Visit, p: Progress): string | null {
  const reasons: string[] = [];
  const alerts = new Set(p.alerts.map((a) => a.kind));
  if (alerts.has("offender_present")) reasons.push("the victim said the offender may be with them");
  if (alerts.has("not_safe_to_talk")) reasons.push("the victim said it is not safe to talk now");
  const recorded = new Map<string, boolean>(v.eligibility.entries.map((e) => [e.item, e.value]));
  const notMet = v.eligibility.missing.filter((i) => recorded.get(i) === false);
  const notRecorded = v.eligibility.missing.filter((i) => !recorded.has(i));
  const label = (i: string): string => (ELIGIBILITY_LABELS[i] ?? i).toLowerCase();
  if (notMet.length) reasons.push(`recorded as not met: ${notMet.map(label).join("; ")}`);
  if (notRecorded.length) reasons.push(`not recorded yet: ${notRecorded.map(label).join("; ")}`);
  if (!p.link_issued_at) reasons.push("no join link has been created for the victim");
  if (!reasons.length) return null;
  return `You cannot start the visit yet: ${reasons.join(". ")}.`;
}

/** A failed start, in plain words: the server's details name items, never raw field names. */
export function startFailure(err: unknown, v: Visit): string {
  if (err instanceof ApiError && err.status === 409) {
    const missing = (err.details as { missing?: string[] } | null)?.missing;
    if (missing?.length) {
      const recorded = new Map<string, boolean>(v.eligibility.entries.map((e) => [e.item, e.value]));
      const parts = missing.map(
        (i) =>
          `${ELIGIBILITY_LABELS[i] ?? i} (${recorded.get(i) === false ? "not met" : "not recorded"})`,
      );
      return `The visit could not start. These eligibility items are not met or not recorded: ${parts.join("; ")}.`;
    }
    return "The visit could not start: it has changed since this page loaded. The page has been refreshed; check it and try again.";
  }
  if (err instanceof ApiError) return `The visit could not start: ${err.message}`;
  return "The visit could not start. Check your connection and try again.";
}
