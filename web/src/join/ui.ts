// The join page's building blocks: short paragraphs, notices, rows of buttons, and a button
// that shows it is busy and puts any error next to itself.

import { ApiError } from "../common/api";
import { button, h } from "../common/dom";
import { force } from "./force";
import type { JoinState } from "./state";

export function para(...lines: string[]): HTMLElement[] {
  return lines.map((line) => h("p", {}, line));
}

export function errorBox(message: string): HTMLElement {
  return h("div", { class: "notice notice--error", role: "alert" }, message);
}

export function actions(...buttons: (HTMLElement | null)[]): HTMLElement {
  return h("div", { class: "actions" }, ...buttons);
}

export function emergency(): HTMLElement {
  return h(
    "div",
    { class: "notice notice--emergency" },
    h("p", {}, h("strong", {}, "If you are in danger now, call 999.")),
    h(
      "p",
      {},
      "If you cannot speak, call 999, listen, then press 55 when asked. They will know it is an emergency.",
    ),
  );
}

export function stepLabel(n: number): HTMLElement {
  return h("p", { class: "step" }, `Step ${n} of 6`);
}

/** A button that runs `work`, shows it is busy, and shows any error next to it. */
export function busyButton(
  label: string,
  work: () => Promise<void>,
  variant: "primary" | "secondary" = "primary",
): HTMLButtonElement {
  const b = button(
    label,
    () => {
      if (b.disabled) return;
      b.disabled = true;
      b.setAttribute("aria-busy", "true");
      const old = b.parentElement?.parentElement?.querySelector(".notice--error");
      old?.remove();
      work()
        .catch((err: unknown) => {
          const message =
            err instanceof ApiError ? err.message : "Something went wrong. Please try again.";
          b.parentElement?.before(errorBox(message));
        })
        .finally(() => {
          b.disabled = false;
          b.removeAttribute("aria-busy");
        });
    },
    variant,
  );
  return b;
}

/** The officer as the victim should be able to check them: rank and name, collar number. */
export function officerLine(state: JoinState): string {
  const who = [state.officerRank, state.officerName].filter(Boolean).join(" ");
  return who
    ? `${who}, collar number ${state.officerCollar}`
    : `Collar number ${state.officerCollar}`;
}

/** Who is calling, on the first screen: the force, the officer, the crime reference. A person
 *  wary of scams can check these against the message they were sent. */
export function trustCard(state: JoinState): HTMLElement {
  return h(
    "dl",
    { class: "trust", "data-testid": "trust" },
    h("dt", {}, "From"),
    h("dd", { "data-testid": "trust-force" }, force.name),
    h("dt", {}, "Officer"),
    h("dd", { "data-testid": "trust-officer" }, officerLine(state)),
    state.crimeReference ? h("dt", {}, "Crime reference") : null,
    state.crimeReference ? h("dd", { "data-testid": "trust-reference" }, state.crimeReference) : null,
  );
}
