// In the call, entered from "join": the officer's video, the recording banner, quality notes,
// and the victim's own controls. When the call ends the page moves to "ended".

import type { ReportQuality } from "../../api/types";
import { ApiError } from "../../common/api";
import { button, h, show } from "../../common/dom";
import {
  type CallHooks,
  type EndReason,
  type PublishCaps,
  type RenewToken,
  VictimCall,
} from "../call";
import { requestToken } from "../check";
import { t } from "../../i18n";
import { api, go, main, page, report, setTitle } from "../page";
import type { Decision } from "../quality";
import { statementPanel } from "./statement";
import { uploadPanel } from "./upload";
import { actions, officerLine } from "../ui";

export async function startCall(url: string, token: string, caps: PublishCaps | null): Promise<void> {
  const officerBox = h(
    "div",
    { class: "officer-video" },
    h("p", { class: "officer-video__waiting" }, t("call.waitingVideo")),
  );
  const selfBox = h("div", { class: "self-video" });
  const banner = h(
    "p",
    { class: "recording", role: "status", hidden: true },
    h("span", { class: "recording__dot", "aria-hidden": "true" }),
    t("call.recording"),
  );
  const qualityNote = h("p", { class: "status", role: "status" }, "");
  const connection = h("p", { class: "status call-connection", role: "status" }, "");
  const hooks: CallHooks = {
    onReconnecting() {
      connection.textContent = t("call.reconnecting");
    },
    onReconnected() {
      connection.textContent = t("call.reconnected");
      showSelf(); // a rejoin publishes a new camera track
    },
    onRecording(on) {
      banner.hidden = !on;
    },
    onQualityDecision(decision: Decision) {
      qualityNote.textContent =
        decision.layer === "off"
          ? t("call.weakPaused")
          : decision.action === "lower_video"
            ? t("call.weakLowered")
            : decision.action === "video_resumed"
              ? t("call.better")
              : "";
      void api("/api/v1/participant/quality", {
        quality: decision.quality === "unknown" ? "poor" : decision.quality,
        action: decision.action,
        video_layer: decision.layer,
      } satisfies ReportQuality).catch(() => undefined);
    },
    onOfficerVideo(el) {
      if (el) {
        el.setAttribute("aria-label", t("call.theOfficer"));
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
  // After an SFU restart or a lost node: a fresh token with this page's own session, so the
  // victim needs no new link and no tap (issue 11).
  const renew: RenewToken = async () => {
    try {
      const issued = await requestToken(page.state!.session, caps ? "video" : "audio_only");
      return { url: issued.url, token: issued.token };
    } catch (err) {
      // The visit closed (409), or this session was replaced or has expired: the call is over.
      if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429)
        return { ended: err.status === 409 ? "officer_ended" : "dropped" };
      throw err; // the control plane did not answer: VictimCall tries again
    }
  };
  const callObj = new VictimCall(caps, hooks, renew);
  page.activeCall = callObj;
  await callObj.connect(url, token);
  let cameraOn = true;
  let micOn = true;
  const cameraButton = button(
    t("call.cameraOff"),
    () => {
      cameraOn = !cameraOn;
      void callObj.setCamera(cameraOn);
      cameraButton.textContent = cameraOn ? t("call.cameraOff") : t("call.cameraOn");
      cameraButton.setAttribute("aria-pressed", String(!cameraOn));
    },
    "secondary",
    { "aria-pressed": "false" },
  );
  const micButton = button(
    t("call.mute"),
    () => {
      micOn = !micOn;
      void callObj.setMicrophone(micOn);
      micButton.textContent = micOn ? t("call.mute") : t("call.unmute");
      micButton.setAttribute("aria-pressed", String(!micOn));
    },
    "secondary",
    { "aria-pressed": "false" },
  );
  const problem = h("div", {});
  // In the room: the call screen shows now, so the officer's video plays while this phone is
  // still publishing (that takes a negotiation per track).
  show(
    main,
    h("h1", { class: "visually-hidden" }, t("call.title")),
    banner,
    h("p", { class: "call-caption" }, t("call.caption", { officer: officerLine(page.state!) })),
    officerBox,
    caps ? selfBox : null,
    qualityNote,
    connection,
    problem,
    actions(
      caps ? cameraButton : null,
      micButton,
      button(t("call.leave"), () => void callObj.leave(), "warning"),
    ),
    statementPanel(),
    uploadPanel(),
  );
  main.classList.add("screen--call");
  setTitle();
  try {
    await callObj.publish();
  } catch {
    // The officer can still be seen and heard; say the phone's own camera or mic failed.
    problem.replaceChildren(h("p", { class: "notice notice--error", role: "alert" }, t("preview.denied")));
    return;
  }
  report("join", "done", caps ? "video" : "voice");
  if (!showSelf()) {
    selfBox.remove();
    cameraButton.remove();
  }

  /** The phone's own camera in the small self-view; false when it has none. */
  function showSelf(): boolean {
    const local = callObj.localVideo;
    if (!local) return false;
    const el = local.attach();
    el.muted = true;
    el.setAttribute("aria-label", t("call.yourCamera"));
    selfBox.replaceChildren(el);
    return true;
  }
}
