// The officer's call view: one screen that fits a 1366×768 laptop without scrolling. The
// victim's video large, a self-view, microphone and camera controls, the recording's status
// always in sight with start (after its consent step) and stop, the victim's connection
// quality, safeguarding alerts, the people in the call by role, and ending with confirmation.
//
// OfficerCall (call.ts) owns the LiveKit room; this module only lays it out and drives it.

import {
  ConnectionQuality,
  type LocalTrackPublication,
  type Participant,
  RoomEvent,
  Track,
} from "livekit-client";

import type { ConsentList, Progress, RecordingState, Visit } from "../api/types";
import { ApiError } from "../common/api";
import { button, h } from "../common/dom";
import { ALERT_TITLES } from "./alerts";
import type { OfficerCall } from "./call";
import { api } from "./session";
import { time } from "./ui";

const ROLE_NAMES: Record<string, string> = {
  officer: "Officer",
  victim: "Victim",
  guardian: "Parent or guardian",
  interpreter: "Interpreter",
  recorder: "Evidential recorder",
};

/** A person as the officer should read them: role and name, never a raw identity. */
export function personLabel(identity: string, name?: string): string {
  const role = ROLE_NAMES[identity.split(":", 1)[0]] ?? "Participant";
  if (!name || name === identity || name.includes(":")) return role;
  return name.toLowerCase().startsWith(role.toLowerCase()) ? name : `${role} (${name})`;
}

const QUALITY_TEXT: Record<string, string> = {
  [ConnectionQuality.Excellent]: "excellent",
  [ConnectionQuality.Good]: "good",
  [ConnectionQuality.Poor]: "poor",
  [ConnectionQuality.Lost]: "lost",
  [ConnectionQuality.Unknown]: "not known yet",
};

export interface CallViewHooks {
  /** End the visit (after the officer confirmed), with the reason they gave. */
  end(reason: string): Promise<void>;
  /** Load the visit again (after recording starts or stops). */
  refresh(): Promise<void>;
}

const STEPPED_DOWN = new Set(["lower_video", "audio_only"]);
const LAYER_TEXT: Record<string, string> = { high: "full quality", medium: "medium quality", low: "low quality" };

/** The phone's latest step, as the officer should read it. */
function victimVideoText(action: string, layer: string): string {
  if (layer === "off") return "Victim's video: paused, voice only (weak connection)";
  const quality = LAYER_TEXT[layer] ?? layer;
  return STEPPED_DOWN.has(action)
    ? `Victim's video: lowered to ${quality} (weak connection)`
    : `Victim's video: back up to ${quality}`;
}

export class CallView {
  readonly root: HTMLElement;
  private readonly stage = h("div", { class: "callview__stage", "data-testid": "call-stage" });
  private readonly self = h("div", { class: "callview__self" });
  private readonly status = h("p", { class: "callview__status", role: "status", "data-testid": "call-status" }, "Connecting…");
  private readonly recording = h("p", { class: "callview__rec", "data-testid": "call-recording" });
  private readonly quality = h("p", { class: "callview__quality", "data-testid": "victim-quality" }, "Victim's connection: not known yet");
  /** What the victim's phone did about its link (its own reports): lowered, paused, back up. */
  private readonly victimVideo = h("p", { class: "callview__quality", role: "status", "data-testid": "victim-video", hidden: true }, "");
  private readonly alerts = h("div", { class: "callview__alerts" });
  private readonly people = h("ul", { class: "callview__people", "data-testid": "call-people" });
  private readonly recButton = button("Start recording", () => void this.toggleRecording(), "primary");
  private readonly micButton = button("Mute microphone", () => void this.toggleMic(), "secondary", { "aria-pressed": "false" });
  private readonly camButton = button("Turn camera off", () => void this.toggleCam(), "secondary", { "aria-pressed": "false" });
  private readonly problem = h("div", { "aria-live": "polite" });
  private recordingActive = false;
  private call: OfficerCall | null = null;

  constructor(
    private readonly visitId: string,
    reference: string,
    private readonly hooks: CallViewHooks,
  ) {
    this.root = h(
      "section",
      { class: "callview", "aria-labelledby": "callview-title", "data-testid": "call-view" },
      h(
        "header",
        { class: "callview__top" },
        h("h2", { id: "callview-title", tabindex: "-1" }, `Call: visit ${reference}`),
        this.recording,
        this.quality,
        this.victimVideo,
      ),
      this.alerts,
      h("div", { class: "callview__main" }, this.stage, this.self),
      h(
        "div",
        { class: "callview__side" },
        h("h3", {}, "In the call"),
        this.people,
        this.status,
      ),
      h(
        "div",
        { class: "callview__controls", role: "group", "aria-label": "Call controls" },
        this.micButton,
        this.camButton,
        this.recButton,
        button("End the call", () => this.confirmEnd(), "warning"),
        this.problem,
      ),
    );
  }

  /** The element OfficerCall puts remote video in, and its status line. */
  get stageElement(): HTMLElement {
    return this.stage;
  }

  setStatus(text: string): void {
    this.status.textContent = text;
  }

  /** Called once the room is connected: self-view, people, the victim's quality. */
  attach(call: OfficerCall): void {
    this.call = call;
    const room = call.room;
    const showSelf = (pub: LocalTrackPublication): void => {
      if (pub.kind !== Track.Kind.Video || !pub.track) return;
      const el = pub.track.attach();
      el.setAttribute("aria-label", "Your own camera");
      el.setAttribute("playsinline", "");
      el.muted = true;
      this.self.replaceChildren(el);
    };
    room.localParticipant.videoTrackPublications.forEach(showSelf);
    room
      .on(RoomEvent.LocalTrackPublished, showSelf)
      .on(RoomEvent.ParticipantConnected, () => this.renderPeople())
      .on(RoomEvent.ParticipantDisconnected, () => this.renderPeople())
      .on(RoomEvent.ConnectionQualityChanged, (q: ConnectionQuality, p: Participant) => {
        if (!p.identity.startsWith("victim:")) return;
        this.quality.textContent = `Victim's connection: ${QUALITY_TEXT[q] ?? q}`;
        this.quality.classList.toggle("warn", q === ConnectionQuality.Poor || q === ConnectionQuality.Lost);
      });
    this.renderPeople();
  }

  /** From the visit's poll: recording status, alerts and the reported quality. */
  update(v: Visit, p: Progress): void {
    const rec = v.recording ?? null;
    this.recordingActive = rec !== null && ["requested", "recording", "stopping"].includes(rec.status);
    const text = !rec
      ? "Recording: off"
      : rec.secured === false && this.recordingActive
        ? `RECORDING NOT SECURED (${rec.status})`
        : `Recording: ${rec.status.replace(/_/g, " ")}${rec.secured ? " · secured" : ""}`;
    this.recording.textContent = text;
    this.recording.className = `callview__rec callview__rec--${!rec ? "off" : rec.secured ? "ok" : this.recordingActive ? "bad" : "off"}`;
    const canStop = rec !== null && ["requested", "recording"].includes(rec.status);
    this.recButton.textContent = canStop ? "Stop recording" : "Start recording";
    this.recButton.disabled = rec?.status === "stopping" || rec?.status === "sealing";
    this.alerts.replaceChildren(
      ...p.alerts.map((a) =>
        h("p", { class: "callview__alert", role: "alert", "data-alert": a.kind }, `${ALERT_TITLES[a.kind]}: ${a.message}`),
      ),
    );
    const reported = p.quality.current;
    if (reported && (reported.quality === "poor" || reported.quality === "lost")) {
      this.quality.textContent = `Victim's connection: ${reported.quality}`;
      this.quality.classList.add("warn");
    }
    this.victimVideo.hidden = reported === null;
    this.victimVideo.textContent = reported ? victimVideoText(reported.action, reported.video_layer) : "";
    this.victimVideo.classList.toggle("warn", reported !== null && STEPPED_DOWN.has(reported.action));
  }

  private renderPeople(): void {
    const room = this.call?.room;
    if (!room) return;
    const me = h("li", {}, `You: ${personLabel(room.localParticipant.identity, room.localParticipant.name)}`);
    const others = [...room.remoteParticipants.values()].map((p) =>
      h("li", { "data-identity": p.identity }, personLabel(p.identity, p.name)),
    );
    this.people.replaceChildren(me, ...others);
  }

  private async toggleMic(): Promise<void> {
    const lp = this.call?.room.localParticipant;
    if (!lp) return;
    const on = !lp.isMicrophoneEnabled;
    await lp.setMicrophoneEnabled(on);
    this.micButton.textContent = on ? "Mute microphone" : "Unmute microphone";
    this.micButton.setAttribute("aria-pressed", String(!on));
  }

  private async toggleCam(): Promise<void> {
    const lp = this.call?.room.localParticipant;
    if (!lp) return;
    const on = !lp.isCameraEnabled;
    await lp.setCameraEnabled(on);
    this.camButton.textContent = on ? "Turn camera off" : "Turn camera on";
    this.camButton.setAttribute("aria-pressed", String(!on));
  }

  private showProblem(err: unknown): void {
    this.problem.replaceChildren(
      h("p", { class: "alert alert--error", role: "alert" }, err instanceof Error ? err.message : String(err)),
    );
  }

  private async toggleRecording(): Promise<void> {
    this.problem.replaceChildren();
    if (this.recButton.textContent === "Stop recording") {
      try {
        await api(`/api/v1/visits/${this.visitId}/recording/stop`, {});
        await this.hooks.refresh();
      } catch (err) {
        this.showProblem(err);
      }
      return;
    }
    await this.consentStep();
  }

  /** Recording's consent step: who has agreed on their phone, and a tick for each person who
   *  agreed out loud; only then is recording started. */
  private async consentStep(): Promise<void> {
    const state = await api<RecordingState>(`/api/v1/visits/${this.visitId}/recording`);
    const agreed = new Map(state.consents.map((c) => [c.identity, c]));
    const needed = new Set<string>([`victim:${this.visitId}`]);
    for (const p of this.call?.room.remoteParticipants.values() ?? []) {
      const role = p.identity.split(":", 1)[0];
      if (role !== "officer" && role !== "recorder") needed.add(p.identity);
    }
    const rows = [...needed].map((identity) => {
      const c = agreed.get(identity);
      const id = `consent-${identity.replace(/[^A-Za-z0-9]/g, "-")}`;
      return c
        ? h("li", {}, `${personLabel(identity)}: agreed ${c.method === "self" ? "on their phone" : "out loud"} at ${time(c.at)}.`)
        : h(
            "li",
            {},
            h("input", { type: "checkbox", id, "data-identity": identity }),
            h("label", { for: id }, ` ${personLabel(identity)} agreed out loud to being recorded`),
          );
    });
    const error = h("div", {});
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-labelledby": "rec-title" },
      h("h2", { id: "rec-title" }, "Start recording the statement?"),
      h(
        "p",
        {},
        "Read the recording notice to everyone in the call. The recording is evidence. Everyone will see “Recording is on” before anything is recorded.",
      ),
      h("ul", { class: "consents" }, ...rows),
      error,
    );
    const cancel = button("Cancel", () => dialog.close(), "secondary");
    const confirm = button("Start recording now", () => {
      void (async () => {
        error.replaceChildren();
        const boxes = [...dialog.querySelectorAll<HTMLInputElement>("input[type=checkbox]")];
        if (boxes.some((b) => !b.checked)) {
          error.replaceChildren(
            h("p", { class: "alert alert--error", role: "alert" }, "Tick each person once they have agreed out loud. Without everyone's consent, do not record."),
          );
          return;
        }
        try {
          for (const b of boxes) {
            await api<ConsentList>(`/api/v1/visits/${this.visitId}/recording/consent`, {
              identity: b.dataset.identity,
            });
          }
          await api(`/api/v1/visits/${this.visitId}/recording/start`, {});
          dialog.close();
          await this.hooks.refresh();
        } catch (err) {
          const missing = err instanceof ApiError ? (err.details as { missing_consent?: string[] } | null)?.missing_consent : undefined;
          error.replaceChildren(
            h(
              "p",
              { class: "alert alert--error", role: "alert" },
              missing?.length
                ? `Recording needs the consent of: ${missing.map((i) => personLabel(i)).join(", ")}.`
                : err instanceof Error
                  ? err.message
                  : String(err),
            ),
          );
        }
      })();
    });
    dialog.append(h("div", { class: "row" }, confirm, cancel));
    dialog.addEventListener("close", () => dialog.remove());
    this.root.append(dialog);
    dialog.showModal();
  }

  private confirmEnd(): void {
    const reason = h("input", { id: "end-reason-call", value: "statement taken", autocomplete: "off" });
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-labelledby": "end-title" },
      h("h2", { id: "end-title" }, "End the call for everyone?"),
      h("p", {}, "The victim will be told the officer has ended the call. The visit will be closed."),
      h("label", { for: "end-reason-call" }, "Reason for ending"),
      reason,
    );
    const error = h("div", {});
    const yes = button("Yes, end the call", () => {
      void this.hooks
        .end(reason.value || "ended by officer")
        .then(() => dialog.close())
        .catch((err: unknown) =>
          error.replaceChildren(h("p", { class: "alert alert--error", role: "alert" }, err instanceof Error ? err.message : String(err))),
        );
    }, "warning");
    dialog.append(error, h("div", { class: "row" }, yes, button("No, stay in the call", () => dialog.close(), "secondary")));
    dialog.addEventListener("close", () => dialog.remove());
    this.root.append(dialog);
    dialog.showModal();
  }
}
