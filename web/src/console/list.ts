// The visits on one day, and the form that creates a visit.

import type { CreateVisit, Visit, VisitAlerts, VisitList } from "../api/types";
import { ApiError } from "../common/api";
import { button, h } from "../common/dom";
import { ALERT_TITLES } from "./alerts";
import { api } from "./session";
import { alertBox, field, time } from "./ui";
import { openVisit } from "./visit";

export const listBox = h("section", { class: "card", "aria-labelledby": "visits-title" });

let currentDay = new Date().toISOString().slice(0, 10);
let alertPoller: number | undefined;
const ALERT_POLL_MS = 5000;

/** Mark each listed visit that has an active safeguarding alert, in words and colour. */
async function markAlerts(): Promise<void> {
  const { alerts } = await api<VisitAlerts>(`/api/v1/alerts?date=${encodeURIComponent(currentDay)}`);
  listBox.querySelectorAll<HTMLTableRowElement>("tr[data-visit]").forEach((row) => {
    const found = alerts[row.dataset.visit ?? ""] ?? [];
    const cell = row.querySelector<HTMLElement>(".visits__alerts")!;
    const text = found.map((a) => ALERT_TITLES[a.kind]).join(", ");
    if (cell.dataset.text === text) return;
    cell.dataset.text = text;
    row.classList.toggle("visits__row--alert", found.length > 0);
    cell.replaceChildren(
      found.length ? h("span", { class: "marker", "data-testid": "alert-marker" }, `⚠ ${text}`) : "",
    );
  });
}

/** Keep the list's alert markers current while signed in; stopped on sign-out. */
export function pollAlerts(on: boolean): void {
  if (alertPoller !== undefined) window.clearInterval(alertPoller);
  alertPoller = on ? window.setInterval(() => void markAlerts().catch(() => undefined), ALERT_POLL_MS) : undefined;
}

export function todayUtc(): string {
  return new Date().toISOString().slice(0, 10);
}

/** Load the list again for the day it shows. */
export function reloadList(): Promise<void> {
  return loadList(currentDay);
}

export async function loadList(day: string): Promise<void> {
  currentDay = day;
  const dayInput = h("input", { id: "day", type: "date", value: day });
  dayInput.addEventListener("change", () => void loadList(dayInput.value || todayUtc()));
  const { visits } = await api<VisitList>(`/api/v1/visits?date=${encodeURIComponent(day)}`);
  const rows = visits.map((v) =>
    h(
      "tr",
      { "data-visit": v.id },
      h("td", {}, time(v.scheduled_at)),
      h("td", { class: "visits__ref" }, v.crime_reference),
      h(
        "td",
        {},
        h("span", { class: `badge badge--${v.status}` }, v.status.replace(/_/g, " ")),
        h("span", { class: "visits__alerts" }),
      ),
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
  await markAlerts();
}

export function renderCreate(): HTMLElement {
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
          contact: {
            // The select offers only the channels the API knows.
            channel: channel.value as CreateVisit["contact"]["channel"],
            value: contact.value,
          },
        } satisfies CreateVisit);
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
