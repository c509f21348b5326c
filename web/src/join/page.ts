// What every screen of the join page shares: the page's state, the API called with the
// victim's session, progress reports for the officer, and moving from one screen to another.

import type { JourneyStep, ReportProgress, StepState } from "../api/types";
import { call } from "../common/api";
import type { EndReason, VictimCall } from "./call";
import { t } from "../i18n";
import { type Answer, Outbox } from "./outbox";
import { type JoinState, type Screen, save } from "./state";
import { backLink, errorBox, errorText } from "./ui";

export const main = document.getElementById("main") as HTMLElement;

/** The page's mutable state, in one object so that every screen reads the same values. */
export const page: {
  state: JoinState | null;
  /** The camera preview's stream, stopped before the call or on leaving. */
  preview: MediaStream | null;
  activeCall: VictimCall | null;
  /** Why the last call ended, for the "ended" screen. */
  endedReason: EndReason;
} = { state: null, preview: null, activeCall: null, endedReason: "left" };

export function api<T>(path: string, body?: unknown, keepalive = false): Promise<T> {
  return call<T>(path, { bearer: page.state?.session, body, keepalive });
}

function sendProgress(body: ReportProgress): void {
  api("/api/v1/participant/progress", body, true).catch(() => {
    // Progress is for the officer's view only; the victim's journey must not stop for it.
  });
}

/** Tell the officer how far the victim got. Never blocks or breaks the page. Sent once the
 *  answers queued before it are settled, so it never reaches the server ahead of them. */
export function report(step: JourneyStep, stepState: StepState, detail = ""): void {
  if (!page.state) return;
  const body: ReportProgress = { step, state: stepState, detail };
  // The quick exit is a safety signal sent as the page leaves: it waits for nothing.
  if (step === "quick_exit") sendProgress(body);
  else outbox.after(() => sendProgress(body));
}

/** The victim's answers, sent in the background in order (outbox.ts). */
export const outbox = new Outbox({
  post: (path, body) => api(path, body),
  changed: (waiting) => {
    if (!page.state) return;
    page.state.pending = waiting.length ? [...waiting] : undefined;
    save(page.state);
  },
  refused: (answer, err) => {
    // The victim is taken back to the screen whose answer was refused, with the reason.
    if (!page.state || page.activeCall) return;
    stopPreview();
    if (answer.question !== undefined) page.state.question = answer.question;
    go(answer.from);
    const box = errorBox(errorText(err));
    box.tabIndex = -1;
    box.dataset.testid = "answer-refused";
    const back = main.querySelector(".back-link");
    if (back) back.after(box);
    else main.prepend(box);
    box.focus();
  },
});

/** Send an answer in the background; once recorded, report its step done to the officer.
 *  The returned promise may be ignored: a refusal is shown by the outbox itself. */
export function answer(a: Answer, step: JourneyStep, detail = ""): Promise<void> {
  const done = outbox.send(a);
  done.then(
    () => sendProgress({ step, state: "done", detail }),
    () => undefined,
  );
  return done;
}

/** Send again the answers a reload interrupted (kept in the state until recorded). */
export function resendPending(): void {
  const pending = page.state?.pending ?? [];
  if (!page.state || pending.length === 0) return;
  page.state.pending = undefined;
  for (const a of pending) outbox.send(a).catch(() => undefined);
}

const screens = {} as Record<Screen, () => void>;

/** main.ts hands over the screens here, so that no screen module imports another's. */
export function registerScreens(table: Record<Screen, () => void>): void {
  Object.assign(screens, table);
}

/** Where each screen's back link goes (GOV.UK "Back"); screens not listed have none. */
const BACK: Partial<Record<Screen, Screen>> = {
  eligibility: "choose",
  "not-now": "eligibility",
  consent: "eligibility",
  preview: "consent",
  check: "preview",
  join: "check",
  interpreter: "choose",
};

/** The page title from the screen's heading: unique per step, "Error: " first when the screen
 *  shows an error summary. */
export function setTitle(): void {
  const heading = main.querySelector("h1")?.textContent?.trim() || t("service.name");
  const error = main.querySelector(".error-summary") !== null;
  document.title = t(error ? "service.errorTitle" : "service.title", { page: heading });
}

export function render(): void {
  if (!page.state) return;
  main.classList.remove("screen--call");
  screens[page.state.screen]();
  const back = BACK[page.state.screen];
  if (back) {
    main.prepend(
      backLink(() => {
        stopPreview();
        if (page.state?.screen === "eligibility" && (page.state.question ?? 0) > 0) {
          page.state.question = (page.state.question ?? 0) - 1;
          go("eligibility");
        } else {
          go(back);
        }
      }),
    );
  }
  setTitle();
}

export function go(screen: Screen): void {
  if (!page.state) return;
  page.state.screen = screen;
  save(page.state);
  render();
}

export function stopPreview(): void {
  page.preview?.getTracks().forEach((t) => t.stop());
  page.preview = null;
}
