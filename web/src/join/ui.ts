// The join page's building blocks: short paragraphs, notices, rows of buttons, GOV.UK's error
// summary and back link, who is calling, and a button that shows it is busy and puts any
// error next to itself. Every text comes from the i18n catalogues.

import { ApiError } from "../common/api";
import { button, h } from "../common/dom";
import { serverMessage, t } from "../i18n";
import { force } from "./force";
import type { JoinState } from "./state";

export function para(...lines: string[]): HTMLElement[] {
  return lines.map((line) => h("p", {}, line));
}

export function errorBox(message: string): HTMLElement {
  return h("div", { class: "notice notice--error", role: "alert" }, message);
}

/** An error as the victim should read it: a server error by its code, in their language. */
export function errorText(err: unknown): string {
  return err instanceof ApiError ? serverMessage(err.code, err.status) : t("error.generic");
}

export function actions(...buttons: (HTMLElement | null)[]): HTMLElement {
  return h("div", { class: "actions" }, ...buttons);
}

export function emergency(): HTMLElement {
  return h(
    "div",
    { class: "notice notice--emergency" },
    h("p", {}, h("strong", {}, t("emergency.now"))),
    h("p", {}, t("emergency.silent")),
  );
}

export function stepLabel(n: number): HTMLElement {
  return h("p", { class: "step" }, t("common.step", { n }));
}

/** GOV.UK's error summary: at the top, focused, each message a link to its field. */
export function errorSummary(errors: { field: string; message: string }[]): HTMLElement {
  const box = h(
    "div",
    { class: "error-summary", role: "alert", tabindex: "-1", "aria-labelledby": "error-summary-title" },
    h("h2", { id: "error-summary-title", class: "error-summary__title" }, t("common.errorSummary")),
    h(
      "ul",
      { class: "error-summary__list" },
      ...errors.map((e) => {
        const link = h("a", { href: `#${e.field}` }, e.message);
        link.addEventListener("click", (ev) => {
          ev.preventDefault();
          document.getElementById(e.field)?.focus();
        });
        return h("li", {}, link);
      }),
    ),
  );
  return box;
}

/** GOV.UK's back link, to the screen before this one. */
export function backLink(onBack: () => void): HTMLElement {
  const link = h("a", { href: "#", class: "back-link" }, t("common.back"));
  link.addEventListener("click", (ev) => {
    ev.preventDefault();
    onBack();
  });
  return link;
}

/** The officer as the victim should be able to check them: rank and name, collar number. */
export function officerLine(state: JoinState): string {
  const who = [state.officerRank, state.officerName].filter(Boolean).join(" ");
  return who
    ? t("trust.officerLine", { who, collar: state.officerCollar })
    : t("trust.collarOnly", { collar: state.officerCollar });
}

/** Who is calling, on the first screen: the force, the officer, the crime reference. A person
 *  wary of scams can check these against the message they were sent. */
export function trustCard(state: JoinState): HTMLElement {
  return h(
    "dl",
    { class: "trust", "data-testid": "trust" },
    h("dt", {}, t("trust.from")),
    h("dd", { "data-testid": "trust-force" }, force.name),
    h("dt", {}, t("trust.officer")),
    h("dd", { "data-testid": "trust-officer" }, officerLine(state)),
    state.crimeReference ? h("dt", {}, t("trust.reference")) : null,
    state.crimeReference ? h("dd", { "data-testid": "trust-reference" }, state.crimeReference) : null,
  );
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
          b.parentElement?.before(errorBox(errorText(err)));
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
