// Screen "preview" (step 4): the victim sees their own camera and hears the microphone work
// before anything is sent; voice only, or a visit, if the camera cannot be used.

import { ApiError } from "../../common/api";
import { button, h, show } from "../../common/dom";
import { go, main, page, report, stopPreview } from "../page";
import { actions, busyButton, errorBox, para, stepLabel } from "../ui";
import { inPersonButton } from "./in-person";

export function renderPreview(): void {
  report("preview", "started");
  const video = h("video", {
    class: "preview",
    autoplay: true,
    muted: true,
    playsinline: true,
    "aria-label": "Your camera",
  });
  video.muted = true;
  const meter = h("div", { class: "meter__fill" });
  const meterBox = h(
    "div",
    { class: "meter", role: "img", "aria-label": "Microphone level" },
    meter,
  );
  const heard = h("p", { class: "status", role: "status" }, "");
  const area = h("div", { class: "preview-area", hidden: true }, video, meterBox, heard);
  const problem = h("div", {});

  const continueButtons = actions(
    button("Yes, I can see myself. Continue", () => {
      stopPreview();
      page.state!.mode = "video";
      report("preview", "done", "camera and microphone");
      go("check");
    }),
  );
  continueButtons.hidden = true;

  const start = busyButton("Turn on camera and microphone", async () => {
    problem.replaceChildren();
    try {
      page.preview = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 360 } },
        audio: true,
      });
    } catch (err) {
      const name = err instanceof DOMException ? err.name : "error";
      report("preview", "failed", name === "NotAllowedError" ? "permission denied" : name);
      problem.replaceChildren(
        errorBox(
          name === "NotAllowedError"
            ? "Your phone did not let this page use the camera or microphone."
            : "We could not start the camera or microphone.",
        ),
        ...para(
          "To allow it, tap the camera or lock icon next to the web address at the top, choose Allow, then try again.",
        ),
        actions(
          button("Try again", () => start.click()),
          busyButton("Continue with voice only", async () => voiceOnly(), "secondary"),
          inPersonButton(),
        ),
      );
      return;
    }
    video.srcObject = page.preview;
    area.hidden = false;
    start.hidden = true;
    continueButtons.hidden = false;
    watchLevel(page.preview, meter, heard);
    continueButtons.querySelector("button")?.focus();
  });

  show(
    main,
    stepLabel(4),
    h("h1", {}, "Check your camera and microphone"),
    ...para(
      "Your phone will ask if this page can use your camera and microphone. Please choose Allow.",
      "Nothing is recorded or sent yet.",
    ),
    actions(start),
    area,
    continueButtons,
    problem,
  );
}

async function voiceOnly(): Promise<void> {
  try {
    page.preview = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch {
    throw new ApiError(0, "media", "We could not use the microphone either. Please ask for a visit.", null);
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
    if (level > 0.1 && !heard.textContent) heard.textContent = "We can hear you.";
    requestAnimationFrame(tick);
  };
  tick();
}
