// Screen "preview" (step 4): the victim sees their own camera and hears the microphone work
// before anything is sent; voice only, or a visit, if the camera cannot be used. When the
// phone refuses, one primary action ("Try again") with step-by-step help for iPhone (Safari)
// and Android (Chrome), the phone's own opened first.

import { ApiError } from "../../common/api";
import { button, h, show } from "../../common/dom";
import { type MessageKey, t } from "../../i18n";
import { go, main, page, report, stopPreview } from "../page";
import { actions, busyButton, errorBox, para, stepLabel } from "../ui";
import { inPersonButton } from "./in-person";

function help(title: MessageKey, steps: MessageKey[], open: boolean, id: string): HTMLElement {
  return h(
    "details",
    { class: "help", open, "data-testid": id },
    h("summary", {}, t(title)),
    h("ol", {}, ...steps.map((s) => h("li", {}, t(s)))),
  );
}

/** Help for allowing the camera and microphone, the visitor's own kind of phone first. */
export function permissionHelp(): HTMLElement {
  const ua = navigator.userAgent;
  const iphone = /iPhone|iPad|iPod/.test(ua);
  const android = /Android/.test(ua);
  const ios = help(
    "preview.help.iphone",
    ["preview.help.iphone1", "preview.help.iphone2", "preview.help.iphone3", "preview.help.iphone4"],
    iphone,
    "help-iphone",
  );
  const droid = help(
    "preview.help.android",
    ["preview.help.android1", "preview.help.android2", "preview.help.android3", "preview.help.android4"],
    android,
    "help-android",
  );
  return h(
    "section",
    { class: "help-box", "aria-labelledby": "help-title" },
    h("h2", { id: "help-title" }, t("preview.help.title")),
    ...(android ? [droid, ios] : [ios, droid]),
  );
}

export function renderPreview(): void {
  report("preview", "started");
  const video = h("video", {
    class: "preview",
    autoplay: true,
    muted: true,
    playsinline: true,
    "aria-label": t("preview.yourCamera"),
  });
  video.muted = true;
  const meter = h("div", { class: "meter__fill" });
  const meterBox = h("div", { class: "meter", role: "img", "aria-label": t("preview.micLevel") }, meter);
  const heard = h("p", { class: "status", role: "status" }, "");
  const area = h("div", { class: "preview-area", hidden: true }, video, meterBox, heard);
  const problem = h("div", {});

  const continueButtons = actions(
    button(t("preview.seeMyself"), () => {
      stopPreview();
      page.state!.mode = "video";
      report("preview", "done", "camera and microphone");
      go("check");
    }),
  );
  continueButtons.hidden = true;
  const startRow = actions();

  const start = busyButton(t("preview.start"), async () => {
    problem.replaceChildren();
    try {
      page.preview = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 360 } },
        audio: true,
      });
    } catch (err) {
      const name = err instanceof DOMException ? err.name : "error";
      report("preview", "failed", name === "NotAllowedError" ? "permission denied" : name);
      // One primary action: the first button goes, "Try again" takes its place.
      startRow.hidden = true;
      problem.replaceChildren(
        errorBox(name === "NotAllowedError" ? t("preview.denied") : t("preview.failed")),
        permissionHelp(),
        actions(button(t("common.tryAgain"), () => start.click())),
        h("h2", {}, t("preview.otherWays")),
        actions(busyButton(t("preview.voiceOnly"), async () => voiceOnly(), "secondary"), inPersonButton()),
      );
      problem.querySelector<HTMLElement>(".notice--error")?.setAttribute("tabindex", "-1");
      problem.querySelector<HTMLElement>(".notice--error")?.focus();
      return;
    }
    video.srcObject = page.preview;
    area.hidden = false;
    startRow.hidden = true;
    continueButtons.hidden = false;
    watchLevel(page.preview, meter, heard);
    continueButtons.querySelector("button")?.focus();
  });
  startRow.append(start);

  show(
    main,
    stepLabel(4),
    h("h1", {}, t("preview.title")),
    ...para(t("preview.ask"), t("preview.nothingSent")),
    startRow,
    area,
    continueButtons,
    problem,
  );
}

async function voiceOnly(): Promise<void> {
  try {
    page.preview = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch {
    throw new ApiError(0, "media", "the microphone was refused too", null);
  }
  stopPreview();
  page.state!.mode = "audio_only";
  report("preview", "done", "microphone only");
  go("check");
}

function watchLevel(stream: MediaStream, fill: HTMLElement, heard: HTMLElement): void {
  const AudioCtx = window.AudioContext;
  if (!AudioCtx || stream.getAudioTracks().length === 0) return;
  const ctx = new AudioCtx();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  ctx.createMediaStreamSource(stream).connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  const tick = (): void => {
    if (!page.preview) {
      void ctx.close();
      return;
    }
    analyser.getByteTimeDomainData(data);
    let peak = 0;
    for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
    const level = Math.min(1, peak / 64);
    fill.style.transform = `scaleX(${level.toFixed(2)})`;
    if (level > 0.1 && !heard.textContent) heard.textContent = t("preview.heard");
    requestAnimationFrame(tick);
  };
  tick();
}
