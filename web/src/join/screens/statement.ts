// The witness's written statement, in the call and after it: read it in large text (in the
// language it was taken in), ask for corrections, and sign the revision read (the MG11
// declaration, typed name, age if under 18, a signature drawn on a canvas and sent as PNG).
// Polled; redrawn only when the statement itself changes, so what the witness types stays.

import type { RequestCorrection, SignStatement, Statement, WitnessStatement } from "../../api/types";
import { ApiError } from "../../common/api";
import { button, h } from "../../common/dom";
import { api } from "../page";
import { clock, problemSummary, tx, workButton } from "./exhibit-text";

const POLL_MS = 3000;

/** A canvas the witness signs on with a finger, mouse or pen. */
function signaturePad(): { root: HTMLElement; canvas: HTMLCanvasElement; drawn: () => boolean; clear: () => void } {
  const canvas = h("canvas", {
    id: "signature",
    width: "600",
    height: "200",
    class: "signature-pad",
    tabindex: "0",
    role: "img",
    "aria-label": tx("statement.signatureLabel"),
    "aria-describedby": "signature-hint",
  });
  const ctx = canvas.getContext("2d")!;
  ctx.lineWidth = 4;
  ctx.lineCap = "round";
  ctx.strokeStyle = "#0b0c0c";
  let strokes = 0;
  let last: { x: number; y: number } | null = null;
  const at = (ev: PointerEvent): { x: number; y: number } => {
    const r = canvas.getBoundingClientRect();
    return { x: ((ev.clientX - r.left) * canvas.width) / r.width, y: ((ev.clientY - r.top) * canvas.height) / r.height };
  };
  canvas.addEventListener("pointerdown", (ev) => {
    canvas.setPointerCapture(ev.pointerId);
    last = at(ev);
    strokes += 1;
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!last) return;
    const p = at(ev);
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    last = p;
  });
  const end = (): void => {
    last = null;
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  const clear = (): void => {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    strokes = 0;
  };
  const root = h(
    "div",
    { class: "field" },
    h("label", { for: "signature", class: "label" }, tx("statement.signatureLabel")),
    h("p", { class: "hint", id: "signature-hint" }, tx("statement.signatureHint")),
    canvas,
    h("div", { class: "actions" }, button(tx("statement.clear"), clear, "secondary")),
  );
  return { root, canvas, drawn: () => strokes > 0, clear };
}

function pngBase64(canvas: HTMLCanvasElement): string {
  return canvas.toDataURL("image/png").replace(/^data:image\/png;base64,/, "");
}

function signingForm(st: Statement, done: () => Promise<void>): HTMLElement {
  const errors = h("div", {});
  const declared = h("input", { type: "checkbox", id: "declaration", class: "checkbox" });
  const name = h("input", { type: "text", id: "witness-name", autocomplete: "name", class: "input" });
  const over = h("input", { type: "radio", name: "over18", id: "over18-yes", value: "yes", checked: true });
  const under = h("input", { type: "radio", name: "over18", id: "over18-no", value: "no" });
  const age = h("input", { type: "number", id: "witness-age", min: "1", max: "17", inputmode: "numeric", class: "input" });
  const ageField = h("div", { class: "field", hidden: true }, h("label", { for: "witness-age" }, tx("statement.ageLabel")), age);
  for (const r of [over, under]) r.addEventListener("change", () => (ageField.hidden = over.checked));
  const pad = signaturePad();
  const sign = workButton(tx("statement.signButton"), async () => {
    const problems: { field: string; message: string }[] = [];
    if (!declared.checked) problems.push({ field: "declaration", message: tx("statement.errorDeclaration") });
    if (name.value.trim().length < 2) problems.push({ field: "witness-name", message: tx("statement.errorName") });
    if (under.checked && !age.value) problems.push({ field: "witness-age", message: tx("statement.errorAge") });
    if (!pad.drawn()) problems.push({ field: "signature", message: tx("statement.errorSignature") });
    errors.replaceChildren(problems.length ? problemSummary(problems) : "");
    if (problems.length) {
      errors.querySelector<HTMLElement>(".error-summary")?.focus();
      return;
    }
    const body: SignStatement = {
      revision: st.revision,
      declaration: true,
      name: name.value.trim(),
      over_18: over.checked,
      age: under.checked ? Number(age.value) : null,
      signature_png: pngBase64(pad.canvas),
    };
    try {
      await api(`/api/v1/participant/statement/${st.id}/sign`, body);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) throw new Error(tx("statement.errorChanged"));
      throw err;
    }
    await done();
  });
  return h(
    "section",
    { class: "statement-sign", "aria-labelledby": "sign-title", "data-testid": "statement-sign" },
    h("h2", { id: "sign-title" }, tx("statement.signTitle")),
    errors,
    h("p", {}, tx("statement.declarationIntro")),
    h("blockquote", { class: "declaration", lang: "en", "data-testid": "declaration" }, st.declaration),
    h("div", { class: "field" }, declared, " ", h("label", { for: "declaration" }, tx("statement.declarationCheck"))),
    h("div", { class: "field" }, h("label", { for: "witness-name" }, tx("statement.nameLabel")), name),
    h(
      "fieldset",
      { class: "field" },
      h("legend", {}, tx("statement.over18Legend")),
      h("div", {}, over, " ", h("label", { for: "over18-yes" }, tx("statement.yes"))),
      h("div", {}, under, " ", h("label", { for: "over18-no" }, tx("statement.no"))),
    ),
    ageField,
    pad.root,
    h("div", { class: "actions" }, sign),
  );
}

function correctionForm(st: Statement): HTMLElement {
  const box = h("textarea", { id: "correction", rows: "3", class: "input" });
  const sent = h("div", { role: "status" });
  return h(
    "div",
    { class: "field" },
    h("label", { for: "correction" }, tx("statement.correctionLabel")),
    box,
    sent,
    h(
      "div",
      { class: "actions" },
      workButton(
        tx("statement.correctionButton"),
        async () => {
          if (!box.value.trim()) return;
          const body: RequestCorrection = { revision: st.revision, request: box.value.trim() };
          await api(`/api/v1/participant/statement/${st.id}/corrections`, body);
          box.value = "";
          sent.replaceChildren(h("p", { class: "notice notice--ok" }, tx("statement.correctionSent")));
        },
        "secondary",
      ),
    ),
  );
}

/** The statement panel; it polls while it is in the page. */
export function statementPanel(): HTMLElement {
  const root = h("section", { class: "statement", "aria-labelledby": "statement-title", "data-testid": "statement" });
  let shown = "";
  const draw = (st: Statement | null, note = ""): void => {
    const key = st ? `${st.id}|${st.revision}|${st.status}` : "none";
    if (key === shown) return;
    const changed = shown !== "" && shown !== "none" && st?.status === "draft";
    shown = key;
    if (!st) {
      root.replaceChildren(h("h2", { id: "statement-title" }, tx("statement.title")), h("p", {}, tx("statement.waiting")));
      return;
    }
    const parts: (HTMLElement | null)[] = [
      h("h2", { id: "statement-title" }, tx("statement.title")),
      changed || note ? h("p", { class: "notice notice--warn", role: "status" }, note || tx("statement.changed")) : null,
      st.status === "signed"
        ? h("p", { class: "notice notice--ok", role: "status", "data-testid": "statement-signed" }, tx("statement.signed", { time: clock(st.signed_at ?? "") }))
        : h("p", {}, tx("statement.intro")),
      h(
        "div",
        {
          class: "statement-text",
          lang: st.language,
          dir: "auto",
          tabindex: "0",
          "data-testid": "statement-text",
        },
        st.text,
      ),
      st.status === "draft" ? correctionForm(st) : null,
      st.status === "draft" ? signingForm(st, poll) : null,
    ];
    root.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  };
  async function poll(): Promise<void> {
    const found = await api<WitnessStatement>("/api/v1/participant/statement");
    draw(found.statement);
  }
  draw(null);
  const timer = window.setInterval(() => {
    if (!root.isConnected) {
      window.clearInterval(timer);
      return;
    }
    void poll().catch(() => undefined);
  }, POLL_MS);
  void poll().catch(() => undefined);
  return root;
}
