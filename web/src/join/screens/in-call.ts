// In the call, entered from "join": the officer's video, the recording banner, quality notes,
// and the victim's own controls. When the call ends the page moves to "ended".

import type { ReportQuality } from "../../api/types";
import { button, h, show } from "../../common/dom";
import { type CallHooks, type EndReason, type PublishCaps, VictimCall } from "../call";
import { api, go, main, page, report } from "../page";
import type { Decision } from "../quality";
import { statementPanel } from "./statement";
import { uploadPanel } from "./upload";
import { actions } from "../ui";

export async function startCall(url: string, token: string, caps: PublishCaps | null): Promise<void> {
  const officerBox = h(
    "div",
    { class: "officer-video" },
    h("p", { class: "officer-video__waiting" }, "Waiting for the officer’s video…"),
  );
  const selfBox = h("div", { class: "self-video" });
  const banner = h(
    "p",
    { class: "recording", role: "status", hidden: true },
    h("span", { class: "recording__dot", "aria-hidden": "true" }),
    "Recording is on",
  );
  const qualityNote = h("p", { class: "status", role: "status" }, "");
  const hooks: CallHooks = {
    onRecording(on) {
      banner.hidden = !on;
    },
    onQualityDecision(decision: Decision) {
      qualityNote.textContent =
        decision.layer === "off"
          ? "Your connection is weak, so your video is paused. The officer can still hear you."
          : decision.action === "lower_video"
            ? "Your connection is weak, so we have lowered the video quality."
            : decision.action === "video_resumed"
              ? "Your connection is better. Your video is back on."
              : "";
      void api("/api/v1/participant/quality", {
        quality: decision.quality === "unknown" ? "poor" : decision.quality,
        action: decision.action,
        video_layer: decision.layer,
      } satisfies ReportQuality).catch(() => undefined);
    },
    onOfficerVideo(el) {
      if (el) {
        el.setAttribute("aria-label", "The officer");
        officerBox.replaceChildren(el);
      }
    },
    onEnded(reason: EndReason) {
      page.activeCall = null;
      if (reason === "left") report("left", "done");
      page.endedReason = reason;
      go("ended");
    },
  };
  const callObj = new VictimCall(caps, hooks);
  page.activeCall = callObj;
  await callObj.start(url, token);
  report("join", "done", caps ? "video" : "voice");
  const local = callObj.localVideo;
  if (local) {
    const el = local.attach();
    el.muted = true;
    el.setAttribute("aria-label", "Your camera");
    selfBox.replaceChildren(el);
  }
  let cameraOn = true;
  let micOn = true;
  const cameraButton = button(
    "Turn my camera off",
    () => {
      cameraOn = !cameraOn;
      void callObj.setCamera(cameraOn);
      cameraButton.textContent = cameraOn ? "Turn my camera off" : "Turn my camera on";
      cameraButton.setAttribute("aria-pressed", String(!cameraOn));
    },
    "secondary",
    { "aria-pressed": "false" },
  );
  const micButton = button(
    "Mute my microphone",
    () => {
      micOn = !micOn;
      void callObj.setMicrophone(micOn);
      micButton.textContent = micOn ? "Mute my microphone" : "Unmute my microphone";
      micButton.setAttribute("aria-pressed", String(!micOn));
    },
    "secondary",
    { "aria-pressed": "false" },
  );
  show(
    main,
    h("h1", { class: "visually-hidden" }, "You are on a call with the police"),
    banner,
    h("p", { class: "call-caption" }, `You are talking to police officer ${page.state!.officerCollar}.`),
    officerBox,
    local ? selfBox : null,
    qualityNote,
    actions(
      local ? cameraButton : null,
      micButton,
      button("Leave the call", () => void callObj.leave(), "warning"),
    ),
    statementPanel(),
    uploadPanel(),
  );
  main.classList.add("screen--call");
}
