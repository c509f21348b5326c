// Screen "check" (step 5): the connection check, and its verdict in plain words with what the
// victim can do next.

import { button, h, show } from "../../common/dom";
import { type CheckOutcome, checkConnection } from "../check";
import { go, main, page, report } from "../page";
import { save } from "../state";
import { actions, busyButton, para, stepLabel } from "../ui";
import { inPersonButton } from "./in-person";

const VERDICT_TEXT: Record<CheckOutcome["klass"], string> = {
  hd: "Your connection is good for a video call.",
  sd: "Your connection is good for a video call.",
  audio_only:
    "Your connection is not strong enough for video right now, but it is good enough for a voice call.",
  insufficient: "Your connection is not strong enough for a call right now.",
};

export function renderCheck(): void {
  const bar = h("progress", { max: "100", value: "0", "aria-label": "Connection check progress" });
  const status = h("p", { role: "status", class: "status" }, "");
  // A live region from the start, so the verdict put into it later is read out.
  const result = h("div", { "aria-live": "polite" });
  const startButton = busyButton("Start the check", async () => {
    report("check", "started");
    result.replaceChildren();
    startButton.hidden = true;
    bar.hidden = false;
    status.textContent = "Checking… please keep this page open.";
    let outcome: CheckOutcome;
    try {
      outcome = await checkConnection(page.state!.session, (fraction) => {
        bar.value = Math.round(fraction * 100);
      });
    } catch (err) {
      startButton.hidden = false;
      bar.hidden = true;
      status.textContent = "";
      report("check", "failed", err instanceof Error ? err.message.slice(0, 200) : "error");
      throw err;
    }
    bar.value = 100;
    page.state!.verdict = outcome.klass;
    save(page.state!);
    status.textContent = "";
    showVerdict(outcome, result, startButton);
  });
  bar.hidden = true;
  show(
    main,
    stepLabel(5),
    h("h1", {}, "Check your connection"),
    ...para(
      "We check that your internet connection can carry the call. It takes about 8 seconds and uses a small amount of data, less than 3 MB.",
      "If you can, connect to WiFi first.",
    ),
    actions(startButton),
    bar,
    status,
    result,
  );
}

function showVerdict(outcome: CheckOutcome, result: HTMLElement, again: HTMLButtonElement): void {
  const video = outcome.klass === "hd" || outcome.klass === "sd";
  const retry = button("Check again", () => again.click(), "secondary");
  if (video) {
    report("check", "done", outcome.klass);
    result.replaceChildren(
      h("div", { class: "notice notice--ok" }, VERDICT_TEXT[outcome.klass]),
      actions(
        button("Continue", () => {
          page.state!.mode = page.state!.mode === "audio_only" ? "audio_only" : "video";
          go("join");
        }),
      ),
    );
  } else if (outcome.klass === "audio_only") {
    report("check", "done", outcome.klass);
    result.replaceChildren(
      h("div", { class: "notice notice--warn" }, VERDICT_TEXT.audio_only),
      actions(
        button("Have a voice call", () => {
          page.state!.mode = "audio_only";
          go("join");
        }),
        retry,
        inPersonButton(),
      ),
    );
  } else {
    report("check", "failed", outcome.klass);
    result.replaceChildren(
      h("div", { class: "notice notice--warn" }, VERDICT_TEXT.insufficient),
      h("p", {}, "If you can, move closer to your WiFi router or connect to WiFi, then check again."),
      actions(retry, inPersonButton()),
    );
  }
  result.querySelector("button")?.focus();
}
