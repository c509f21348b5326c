// Evidential stills and the visit's exhibits in the console. "Take a still" grabs the current
// frame of the victim's (or the officer's own) video element in this browser, as a JPEG,
// hashes those bytes here at capture (SHA-256, crypto.subtle) and sends image, hash and
// capture time with its caption; the server re-hashes what arrives, refuses a mismatch and
// seals it. The list shows every sealed statement, still and upload of the visit with its
// SHA-256.

import type { Exhibit, ExhibitList } from "../api/types";
import { ApiError } from "../common/api";
import { h } from "../common/dom";
import { statementSection } from "./statement";
import { api, session } from "./session";
import { action, alertBox, field, time } from "./ui";

const POLL_MS = 4000;

function frameOf(video: HTMLVideoElement): Promise<Blob> {
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d")!.drawImage(video, 0, 0);
  return new Promise((resolve, reject) =>
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("the video frame could not be read"))), "image/jpeg", 0.92),
  );
}

interface Capture {
  bytes: ArrayBuffer;
  sha256: string;
  at: string;
}

/** Hash the still's exact bytes at capture; these bytes (not the Blob again) are sent. */
async function captured(blob: Blob): Promise<Capture> {
  const at = new Date().toISOString();
  const bytes = await blob.arrayBuffer();
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const sha256 = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  return { bytes, sha256, at };
}

async function sendStill(visitId: string, still: Capture, caption: string, subject: string, track: string): Promise<Exhibit> {
  const query = new URLSearchParams({ caption, subject, track });
  const response = await fetch(`/api/v1/visits/${visitId}/stills?${query}`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${session.token ?? ""}`,
      "Content-Type": "image/jpeg",
      "X-Capture-SHA256": still.sha256,
      "X-Captured-At": still.at,
    },
    body: still.bytes,
    cache: "no-store",
  });
  const data = (await response.json().catch(() => null)) as (Exhibit & { error?: { code: string; message: string } }) | null;
  if (!response.ok) throw new ApiError(response.status, data?.error?.code ?? "error", data?.error?.message ?? `HTTP ${response.status}`, null);
  return data as Exhibit;
}

/** Stills from the call's video (`videos` holds the call's video elements). */
export function stillsSection(visitId: string, videos: HTMLElement): HTMLElement {
  const caption = h("input", { id: "still-caption", autocomplete: "off", placeholder: "e.g. bruise on left forearm" });
  const subject = h(
    "select",
    { id: "still-subject" },
    h("option", { value: "victim" }, "The victim's video"),
    h("option", { value: "officer" }, "My own camera"),
  );
  const outcome = h("div", { "aria-live": "polite" });
  const take = action("Take a still", async () => {
    outcome.replaceChildren();
    if (!caption.value.trim()) throw new Error("Add a caption first: what the still shows");
    const mine = subject.value === "officer";
    const candidates = [...videos.querySelectorAll<HTMLVideoElement>("video")].filter((v) =>
      mine ? v.closest(".callview__self") !== null : v.closest(".callview__self") === null,
    );
    const video = candidates.find((v) => v.videoWidth > 0);
    if (!video) throw new Error(mine ? "Your camera is not showing" : "The victim's video is not showing");
    const still = await sendStill(visitId, await captured(await frameOf(video)), caption.value.trim(), subject.value, video.dataset.trackSid ?? "");
    caption.value = "";
    outcome.replaceChildren(alertBox(`Still sealed: ${still.caption ?? ""} · SHA-256 ${still.sha256}`, "ok"));
  });
  return h(
    "section",
    { "aria-labelledby": "stills-heading", "data-testid": "stills" },
    h("h3", { id: "stills-heading" }, "Evidential stills"),
    field("still-caption", "Caption", caption),
    field("still-subject", "From", subject),
    h("div", { class: "row" }, take),
    outcome,
  );
}

/** Every sealed exhibit of the visit, with its hash. */
export function exhibitsList(visitId: string): HTMLElement {
  const list = h("ul", { "data-testid": "exhibits" });
  const root = h("section", { "aria-labelledby": "exhibits-heading" }, h("h3", { id: "exhibits-heading" }, "Sealed exhibits"), list);
  const refresh = async (): Promise<void> => {
    const found = await api<ExhibitList>(`/api/v1/visits/${visitId}/exhibits`);
    list.replaceChildren(
      ...found.exhibits.map((e) =>
        h(
          "li",
          { "data-kind": e.kind, "data-sha256": e.sha256 },
          h("strong", {}, `${e.kind} ${time(e.created_at)}`),
          e.caption ? ` · ${e.caption}` : "",
          ` · ${e.media_type}, ${e.bytes} bytes`,
          h("br", {}),
          h("code", {}, `SHA-256 ${e.sha256}`),
        ),
      ),
    );
  };
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

/** The call view's side panel: the statement, stills and the exhibits, behind a toggle. */
export function exhibitsPanel(visitId: string, videos: HTMLElement): HTMLElement {
  const panel = h(
    "aside",
    {
      id: "exhibits-panel",
      class: "exhibits-panel",
      "aria-label": "Statement and exhibits",
      hidden: true,
    },
    statementSection(visitId),
    stillsSection(visitId, videos),
    exhibitsList(visitId),
  );
  const toggle = h(
    "button",
    {
      type: "button",
      class: "button button--secondary exhibits-toggle",
      "aria-expanded": "false",
      "aria-controls": "exhibits-panel",
    },
    "Statement and stills",
  );
  toggle.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-expanded", String(!panel.hidden));
    toggle.textContent = panel.hidden ? "Statement and stills" : "Close statement and stills";
  });
  return h("div", { "data-testid": "exhibits-panel" }, toggle, panel);
}
