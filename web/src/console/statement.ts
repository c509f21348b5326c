// The written statement (MG11) in the console: start one, type it with autosave, show it to
// the witness, see their correction requests, and see it signed (with its hash and evidence
// id). A signed statement cannot change; "Start a further statement" begins a correction
// from its text. Polled, without ever overwriting what the officer is typing.

import type { CreateStatement, SaveStatement, Statement, StatementList } from "../api/types";
import { ApiError } from "../common/api";
import { h } from "../common/dom";
import { api } from "./session";
import { action, time } from "./ui";

const POLL_MS = 3000;
const AUTOSAVE_MS = 1200;

export function statementSection(visitId: string): HTMLElement {
  const root = h("section", { class: "statement-panel", "aria-labelledby": "statement-heading", "data-testid": "statement-panel" });
  const body = h("div", {});
  let current: Statement | null = null;
  let pending: number | undefined;
  let saving = false;
  const text = h("textarea", { id: "statement-text", rows: "14" });
  const saved = h("p", { class: "hint", role: "status", "data-testid": "statement-saved" });
  const corrections = h("ul", { "data-testid": "statement-corrections" });

  async function save(share = false): Promise<void> {
    if (!current || current.status !== "draft" || saving) return;
    saving = true;
    saved.textContent = "Saving…";
    try {
      const sent: SaveStatement = { text: text.value, revision: current.revision, share };
      current = await api<Statement>(`/api/v1/visits/${visitId}/statements/${current.id}`, sent, "PUT");
      saved.textContent = `Saved, revision ${current.revision}, at ${time(current.updated_at)}${current.shared ? " · shown to the witness" : ""}`;
    } catch (err) {
      saved.textContent =
        err instanceof ApiError && err.status === 409
          ? `Not saved: ${err.message}`
          : `Not saved: ${err instanceof Error ? err.message : String(err)}`;
      throw err;
    } finally {
      saving = false;
    }
  }
  text.addEventListener("input", () => {
    window.clearTimeout(pending);
    saved.textContent = "Unsaved changes…";
    pending = window.setTimeout(() => {
      pending = undefined;
      void save().catch(() => undefined);
    }, AUTOSAVE_MS);
  });

  function draw(all: Statement[]): void {
    const latest = all[all.length - 1] ?? null;
    const changedStatement = latest?.id !== current?.id || latest?.status !== current?.status;
    if (latest && (changedStatement || (document.activeElement !== text && !pending && latest.revision !== current?.revision))) {
      text.value = latest.text;
    }
    current = latest;
    corrections.replaceChildren(
      ...(latest?.corrections ?? []).map((c) =>
        h("li", {}, h("strong", {}, `Witness asked at ${time(c.at)} (revision ${c.revision}): `), c.request),
      ),
    );
    if (!changedStatement && body.childElementCount) return;
    if (!latest) {
      body.replaceChildren(
        h("p", {}, "No statement yet."),
        action("Start a statement", async () => {
          await api<Statement>(`/api/v1/visits/${visitId}/statements`, { language: "en" } satisfies CreateStatement);
          await refresh();
        }),
      );
      return;
    }
    text.readOnly = latest.status !== "draft";
    body.replaceChildren(
      h("p", {}, `Statement ${latest.number}${latest.supersedes ? " (corrects an earlier statement)" : ""} · language ${latest.language} · `, h("strong", { "data-testid": "statement-status" }, latest.status)),
      h("label", { for: "statement-text" }, "Statement, in the witness's own words"),
      text,
      saved,
      latest.status === "draft"
        ? h(
            "div",
            { class: "row" },
            action("Show to the witness", async () => {
              window.clearTimeout(pending);
              pending = undefined;
              await save(true);
            }),
          )
        : h(
            "div",
            { "data-testid": "statement-signature" },
            h("p", {}, `Signed by ${latest.signed_name ?? ""} at ${time(latest.signed_at)}. Sealed as evidence ${latest.evidence_id ?? ""}.`),
            h("p", { class: "hint hash" }, `SHA-256 of the text: ${latest.text_sha256 ?? ""}`),
            action(
              "Start a further statement (correction)",
              async () => {
                await api<Statement>(`/api/v1/visits/${visitId}/statements`, { language: latest.language, supersedes: latest.id } satisfies CreateStatement);
                await refresh();
              },
              "secondary",
            ),
          ),
      h("h4", {}, "Corrections the witness asked for"),
      corrections,
    );
  }

  async function refresh(): Promise<void> {
    const found = await api<StatementList>(`/api/v1/visits/${visitId}/statements`);
    draw(found.statements);
  }

  root.append(h("h3", { id: "statement-heading" }, "Written statement (MG11)"), body);
  const timer = window.setInterval(() => {
    if (!root.isConnected) {
      window.clearInterval(timer);
      return;
    }
    if (!saving) void refresh().catch(() => undefined);
  }, POLL_MS);
  void refresh().catch(() => undefined);
  return root;
}
