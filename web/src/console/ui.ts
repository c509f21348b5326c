// The console's building blocks: times, alerts, form fields, and buttons that show their own
// failures.

import { button, h } from "../common/dom";

export function time(iso: string | null | undefined): string {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
}

export function alertBox(message: string, kind: "error" | "ok" | "warn" = "error"): HTMLElement {
  return h("div", { class: `alert alert--${kind}`, role: kind === "error" ? "alert" : "status" }, message);
}

/** Run `work` from a button, showing failures beside the button instead of losing them. */
export function action(label: string, work: () => Promise<void>, variant = "primary"): HTMLButtonElement {
  const b = button(
    label,
    () => {
      b.disabled = true;
      b.parentElement?.querySelector(":scope > .alert--error")?.remove();
      work()
        .catch((err: unknown) => {
          b.parentElement?.append(
            alertBox(err instanceof Error ? err.message : `Failed: ${String(err)}`),
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

export function field(id: string, label: string, input: HTMLElement, hint?: string): HTMLElement {
  if (hint) input.setAttribute("aria-describedby", `${id}-hint`);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    input,
  );
}
