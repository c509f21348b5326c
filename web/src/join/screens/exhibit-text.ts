// Helpers shared by the statement and upload panels. Their words are in the join page's
// catalogues (web/src/i18n/catalogues/*.json) under "statement.*", "upload.*" and "stills.*",
// so tests/web/test_i18n.py holds them to the same rules as every other screen. The statement
// itself stays in the language it was taken in; the MG11 declaration is shown in the words the
// law uses, with its meaning explained in the reader's language.

import { type MessageKey, locale, t } from "../../i18n";

export type ExhibitKey = Extract<MessageKey, `statement.${string}` | `upload.${string}` | `stills.${string}`>;

/** The text for `key` in the page's language (ICU MessageFormat, via the shared catalogues). */
export function tx(key: ExhibitKey, values?: Record<string, string | number>): string {
  return t(key, values);
}

/** A time of day as the reader's language writes it. */
export function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString(locale().tag, { hour: "2-digit", minute: "2-digit" });
}

/** A button that runs `work`, shows it is busy, and puts its failure beside it in the
 *  reader's language: an Error's own message (already translated here), else a general one. */
export function workButton(
  label: string,
  work: () => Promise<void>,
  variant: "primary" | "secondary" = "primary",
): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `button button--${variant}`;
  b.textContent = label;
  b.addEventListener("click", () => {
    if (b.disabled) return;
    b.disabled = true;
    b.setAttribute("aria-busy", "true");
    b.parentElement?.parentElement?.querySelector(":scope > .notice--error")?.remove();
    work()
      .catch((err: unknown) => {
        const box = document.createElement("div");
        box.className = "notice notice--error";
        box.setAttribute("role", "alert");
        box.textContent = err instanceof Error && !("status" in err) ? err.message : tx("statement.failed");
        b.parentElement?.before(box);
      })
      .finally(() => {
        b.disabled = false;
        b.removeAttribute("aria-busy");
      });
  });
  return b;
}

/** GOV.UK's error summary: focused, each message a link to its field. */
export function problemSummary(errors: { field: string; message: string }[]): HTMLElement {
  const list = document.createElement("ul");
  for (const e of errors) {
    const link = document.createElement("a");
    link.href = `#${e.field}`;
    link.textContent = e.message;
    link.addEventListener("click", (ev) => {
      ev.preventDefault();
      document.getElementById(e.field)?.focus();
    });
    const item = document.createElement("li");
    item.append(link);
    list.append(item);
  }
  const title = document.createElement("h2");
  title.id = "statement-problem-title";
  title.textContent = tx("statement.problem");
  const box = document.createElement("div");
  box.className = "error-summary";
  box.setAttribute("role", "alert");
  box.tabIndex = -1;
  box.setAttribute("aria-labelledby", title.id);
  box.append(title, list);
  return box;
}
