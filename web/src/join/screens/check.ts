// Screen "check" (step 5): the connection check, and its verdict in plain words with what the
// victim can do next. The wording follows the mode checked: after a voice-only preview a good
// connection is "good for a voice call", never "a video call".

import { button, h, show } from "../../common/dom";
import { t } from "../../i18n";
import type { CheckOutcome } from "../check";
import { loadRtc } from "../lazy";
import { go, main, outbox, page, report } from "../page";
import { save } from "../state";
import { actions, busyButton, para, stepLabel } from "../ui";
import { inPersonButton } from "./in-person";

export function renderCheck(): void {
  const bar = h("progress", { max: "100", value: "0", "aria-label": t("check.progress") });
  const status = h("p", { role: "status", class: "status" }, "");
  // A live region from the start, so the verdict put into it later is read out.
  const result = h("div", { "aria-live": "polite" });
  const startButton = busyButton(t("check.start"), async () => {
    // The answers before the check must be recorded first (a refusal takes the victim back).
    await outbox.flush();
    report("check", "started");
    result.replaceChildren();
    startButton.hidden = true;
    bar.hidden = false;
    status.textContent = t("check.checking");
    let outcome: CheckOutcome;
    try {
      const { checkConnection } = await loadRtc();
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
    h("h1", {}, t("check.title")),
    ...para(t("check.about"), t("check.wifi")),
    actions(startButton),
    bar,
    status,
    result,
  );
}

function showVerdict(outcome: CheckOutcome, result: HTMLElement, again: HTMLButtonElement): void {
  const video = outcome.klass === "hd" || outcome.klass === "sd";
  const voiceChecked = page.state!.mode === "audio_only";
  const retry = button(t("check.again"), () => again.click(), "secondary");
  if (video) {
    report("check", "done", outcome.klass);
    result.replaceChildren(
      h(
        "div",
        { class: "notice notice--ok", "data-testid": "verdict" },
        voiceChecked ? t("check.goodVoice") : t("check.goodVideo"),
      ),
      actions(
        button(t("common.continue"), () => {
          page.state!.mode = voiceChecked ? "audio_only" : "video";
          go("join");
        }),
      ),
    );
  } else if (outcome.klass === "audio_only") {
    report("check", "done", outcome.klass);
    result.replaceChildren(
      h(
        "div",
        { class: "notice notice--warn", "data-testid": "verdict" },
        voiceChecked ? t("check.goodVoice") : t("check.voiceOnly"),
      ),
      actions(
        button(t("check.haveVoice"), () => {
          page.state!.mode = "audio_only";
          go("join");
        }),
        voiceChecked ? null : retry,
        inPersonButton(),
      ),
    );
  } else {
    report("check", "failed", outcome.klass);
    result.replaceChildren(
      h("div", { class: "notice notice--warn", "data-testid": "verdict" }, t("check.insufficient")),
      h("p", {}, t("check.moveCloser")),
      actions(retry, inPersonButton()),
    );
  }
  result.querySelector("button")?.focus();
}
