// The eligibility checklist of one visit: each item's latest answer, and buttons to record it.

import type { Eligibility, RecordEligibility, Visit } from "../api/types";
import { h } from "../common/dom";
import { api } from "./session";
import { action, time } from "./ui";

export const ELIGIBILITY_LABELS: Record<string, string> = {
  risk_assessment_clear: "Risk assessment: no immediate threat, risk or harm",
  adult_or_guardian: "18 or over, or a parent or guardian present",
  offender_not_present: "Offender not present",
  smartphone_with_video: "Smartphone with video",
  network_adequate: "Connection adequate",
};

/** Who recorded something, as an officer reads it: a role or a collar number, never a raw id
 *  such as "participant:victim:8f61…". */
export function actorLabel(actor: string): string {
  const [kind, role, rest] = actor.split(":");
  if (kind === "participant") return role === "victim" ? "the victim" : `the ${role ?? "participant"}`;
  if (kind === "officer") return `officer ${(rest ?? role ?? "").replace(/^local:/, "")}`.trim();
  if (kind === "sfu" || kind === "system") return "the system";
  return actor;
}

/** Fill `target` with the checklist of `v`; `refresh` runs after each answer is recorded. */
export function renderEligibility(target: HTMLElement, v: Visit, refresh: () => Promise<void>): void {
  const latest = new Map<string, Eligibility>(v.eligibility.entries.map((e) => [e.item, e]));
  const rows = Object.entries(ELIGIBILITY_LABELS).map(([item, label]) => {
    const e = latest.get(item);
    const state = e ? (e.value ? "met" : "not met") : "not recorded";
    return h(
      "li",
      { class: "elig", "data-item": item },
      h("span", { class: "elig__label" }, label),
      h("span", { class: `elig__state elig__state--${state.replace(/ /g, "-")}` }, state),
      e ? h("span", { class: "hint" }, ` by ${actorLabel(e.recorded_by)} at ${time(e.recorded_at)}`) : null,
      h(
        "span",
        { class: "elig__actions" },
        action(
          "Met",
          async () => {
            await api(
              `/api/v1/visits/${v.id}/eligibility/${item}`,
              { value: true } satisfies RecordEligibility,
              "PUT",
            );
            await refresh();
          },
          "quiet",
        ),
        action(
          "Not met",
          async () => {
            await api(
              `/api/v1/visits/${v.id}/eligibility/${item}`,
              { value: false } satisfies RecordEligibility,
              "PUT",
            );
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
  target.replaceChildren(h("ul", { class: "elig-list" }, ...rows));
}
