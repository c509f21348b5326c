// The victim's own evidence: photos and short videos sent from the phone, during the call or
// after it while the session lasts. The file goes as it is (raw body, no re-encoding), the
// server checks it by content and seals it; the page lists what was sent with its SHA-256, and
// says in the reader's language why a file was refused. It also tells the victim when the
// officer took a picture from the video.

import type { Exhibit, WitnessExhibits } from "../../api/types";
import { h } from "../../common/dom";
import { page } from "../page";
import { clock, tx, workButton } from "./exhibit-text";

const POLL_MS = 4000;
/** The server's limit ([exhibits] max_upload_bytes); a larger file is refused there too. */
const MAX_MB = 50;

class UploadRefused extends Error {}

async function send(file: File): Promise<Exhibit> {
  let response: Response;
  try {
    response = await fetch("/api/v1/participant/uploads", {
      method: "POST",
      headers: {
        Authorization: `Bearer ${page.state?.session ?? ""}`,
        "Content-Type": "application/octet-stream",
        // Header values must be Latin-1: the name goes percent-encoded.
        "X-File-Name": encodeURIComponent(file.name),
      },
      body: file,
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new UploadRefused(tx("upload.failed"));
  }
  const data = (await response.json().catch(() => null)) as
    | (Exhibit & { error?: { details?: { reason?: string } } })
    | null;
  if (response.ok && data) return data;
  const reason = data?.error?.details?.reason;
  if (response.status === 413) throw new UploadRefused(tx("upload.tooLarge", { mb: MAX_MB }));
  if (response.status === 401 || response.status === 410) throw new UploadRefused(tx("upload.expired"));
  if (reason === "type") throw new UploadRefused(tx("upload.wrongType"));
  if (reason === "incomplete") throw new UploadRefused(tx("upload.incomplete"));
  if (reason === "empty") throw new UploadRefused(tx("upload.empty"));
  throw new UploadRefused(tx("upload.failed"));
}

/** The upload panel, with the list of what was sent and the "picture taken" notices. */
export function uploadPanel(): HTMLElement {
  const input = h("input", {
    type: "file",
    id: "upload-file",
    accept: "image/jpeg,image/png,image/heic,image/heif,video/mp4,video/quicktime,video/webm",
    "aria-describedby": "upload-hint",
  });
  const outcome = h("div", { role: "status", "data-testid": "upload-outcome" });
  const list = h("ul", { class: "uploads", "data-testid": "uploads" });
  const stills = h("div", { role: "status", "data-testid": "stills-taken" });
  const sendButton = workButton(tx("upload.send"), async () => {
    outcome.replaceChildren();
    const file = input.files?.[0];
    if (!file) throw new UploadRefused(tx("upload.noFile"));
    if (file.size > MAX_MB * 1024 * 1024) throw new UploadRefused(tx("upload.tooLarge", { mb: MAX_MB }));
    outcome.replaceChildren(h("p", {}, tx("upload.sending")));
    try {
      await send(file);
    } catch (err) {
      outcome.replaceChildren();
      throw err;
    }
    outcome.replaceChildren(h("p", { class: "notice notice--ok" }, tx("upload.sent", { name: file.name })));
    input.value = "";
    await refresh();
  });
  let seenStills = "";
  async function refresh(): Promise<void> {
    const mine = await fetch("/api/v1/participant/exhibits", {
      headers: { Authorization: `Bearer ${page.state?.session ?? ""}`, Accept: "application/json" },
      cache: "no-store",
    });
    if (!mine.ok) return;
    const found = (await mine.json()) as WitnessExhibits;
    list.replaceChildren(
      ...found.uploads.map((u) =>
        h(
          "li",
          { "data-sha256": u.sha256 },
          h("span", {}, u.file_name ?? u.media_type),
          " ",
          h("span", { class: "hint" }, tx("upload.fingerprint", { hash: u.sha256 })),
        ),
      ),
    );
    const stillsKey = found.stills.map((s) => s.evidence_id).join(",");
    if (stillsKey !== seenStills) {
      seenStills = stillsKey;
      stills.replaceChildren(
        ...found.stills.map((s) => h("p", { class: "notice notice--warn" }, tx("stills.taken", { time: clock(s.taken_at) }))),
      );
    }
  }
  const root = h(
    "section",
    { class: "upload", "aria-labelledby": "upload-title", "data-testid": "upload" },
    stills,
    h("h2", { id: "upload-title" }, tx("upload.title")),
    h("p", { class: "hint", id: "upload-hint" }, tx("upload.hint", { mb: MAX_MB })),
    h("div", { class: "field" }, h("label", { for: "upload-file" }, tx("upload.fileLabel")), input),
    h("div", { class: "actions" }, sendButton),
    outcome,
    h("h3", {}, tx("upload.listTitle")),
    list,
  );
  const timer = window.setInterval(() => {
    if (!root.isConnected) {
      window.clearInterval(timer);
      return;
    }
    void refresh().catch(() => undefined);
  }, POLL_MS);
  void refresh().catch(() => undefined);
  return root;
}
