// The victim's side of the LiveKit call: publish camera and mic within the caps the server set,
// show the officer, show "Recording is on" when the room says so, and step the video down
// (or off) when LiveKit reports the connection getting worse.

import {
  ConnectionQuality,
  DisconnectReason,
  type LocalTrack,
  LocalVideoTrack,
  type Participant,
  type RemoteTrack,
  Room,
  RoomEvent,
  Track,
  VideoPreset,
  VideoPresets,
  VideoQuality,
  createLocalTracks,
} from "livekit-client";

import { type Decision, type Layer, type Quality, QualityPolicy } from "./quality";

/** What the server lets this phone send (from the token response's publish_caps). */
export interface PublishCaps {
  maxWidth: number;
  maxHeight: number;
  maxBitrate: number;
  maxFramerate: number;
}

export type EndReason = "officer_ended" | "left" | "dropped";

export interface CallHooks {
  /** The connection dropped; the call is being rejoined (LiveKit's resume, or a fresh token). */
  onReconnecting(): void;
  /** Back in the call after onReconnecting. */
  onReconnected(): void;
  onRecording(on: boolean): void;
  onQualityDecision(decision: Decision): void;
  onOfficerVideo(el: HTMLVideoElement | null): void;
  onEnded(reason: EndReason): void;
}

/** A fresh LiveKit URL and token for this participant, or why the call cannot go on (the
 *  visit closed, the session was replaced). Throws while the control plane cannot answer. */
export type RenewToken = () => Promise<{ url: string; token: string } | { ended: EndReason }>;

/** Milliseconds between attempts to rejoin after LiveKit's own reconnect gave up. */
const REJOIN_DELAYS_MS = [250, 500, 1000, 2000, 3000];

/** A disconnect the victim did not choose and the visit did not cause. */
function rejoinable(reason?: DisconnectReason): boolean {
  return (
    reason !== DisconnectReason.CLIENT_INITIATED &&
    reason !== DisconnectReason.ROOM_DELETED &&
    reason !== DisconnectReason.PARTICIPANT_REMOVED &&
    reason !== DisconnectReason.DUPLICATE_IDENTITY
  );
}

const LAYER_QUALITY: Record<Exclude<Layer, "off">, VideoQuality> = {
  high: VideoQuality.HIGH,
  medium: VideoQuality.MEDIUM,
  low: VideoQuality.LOW,
};

export function recordingFromMetadata(metadata: string | undefined): boolean {
  if (!metadata) return false;
  try {
    const parsed: unknown = JSON.parse(metadata);
    return typeof parsed === "object" && parsed !== null && "recording" in parsed
      ? (parsed as { recording: unknown }).recording === true
      : false;
  } catch {
    return false;
  }
}

function qualityName(q: ConnectionQuality): Quality {
  switch (q) {
    case ConnectionQuality.Excellent:
      return "excellent";
    case ConnectionQuality.Good:
      return "good";
    case ConnectionQuality.Poor:
      return "poor";
    case ConnectionQuality.Lost:
      return "lost";
    default:
      return "unknown";
  }
}

/** Capture and simulcast layers that fit within the caps. */
function videoPlan(caps: PublishCaps): {
  resolution: { width: number; height: number; frameRate: number };
  layers: VideoPreset[];
} {
  const height = Math.min(caps.maxHeight, 720);
  const width = Math.min(caps.maxWidth, Math.round((height * 16) / 9));
  const frameRate = Math.min(caps.maxFramerate, 30);
  // Lower simulcast layers are what the phone steps down to when the link gets worse.
  const layers = [VideoPresets.h180, VideoPresets.h360].filter((p) => p.height < height);
  return { resolution: { width, height, frameRate }, layers };
}

export class VictimCall {
  readonly room: Room;
  private policy: QualityPolicy;
  private ticker: number | undefined;
  private cameraByUser = true;
  private videoTrack: LocalVideoTrack | null = null;
  private localTracks: Promise<LocalTrack[]> | null = null;
  private ended = false;
  private listening = false;
  private leaving = false;
  private rejoining = false;

  constructor(
    private readonly caps: PublishCaps | null,
    private readonly hooks: CallHooks,
    // Issue 11: an SFU restart or a lost node forgets the session; rejoin with a fresh token.
    private readonly renew: RenewToken | null = null,
  ) {
    this.room = new Room({
      adaptiveStream: true,
      // Off: the phone alone decides its layers, so a step down is not undone by the SFU.
      dynacast: false,
      disconnectOnPageLeave: true,
    });
    // The top layer is the capture itself; two simulcast layers below it make it "high".
    const plan = caps ? videoPlan(caps) : null;
    const top: Layer = plan ? (["low", "medium", "high"] as const)[plan.layers.length] : "off";
    this.policy = new QualityPolicy(top, performance.now());
  }

  /** Join the room. The camera and mic are opened at the same time (the preview has already
   *  asked for them), so publishing can follow at once; the officer's video is attached as
   *  soon as it arrives, before this phone has published anything. */
  async connect(url: string, token: string): Promise<void> {
    const room = this.room;
    if (!this.listening) this.listen();

    const plan = this.caps ? videoPlan(this.caps) : null;
    this.localTracks = createLocalTracks({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: plan ? { resolution: plan.resolution, facingMode: "user" } : false,
    });
    try {
      // ICE servers come from the SFU (its own STUN/TURN), never from a public default.
      await room.connect(url, token);
    } catch (err) {
      // Not joined: give the camera and mic back.
      this.localTracks.then((tracks) => tracks.forEach((t) => t.stop())).catch(() => undefined);
      throw err;
    }
    this.hooks.onRecording(recordingFromMetadata(room.metadata));
    await room.startAudio();
    for (const p of room.remoteParticipants.values()) {
      for (const pub of p.trackPublications.values()) {
        if (pub.track) this.attach(pub.track);
      }
    }
  }

  /** Publish the camera and mic opened by connect(), both at once, then start adapting. */
  async publish(): Promise<void> {
    const room = this.room;
    const plan = this.caps ? videoPlan(this.caps) : null;
    const tracks = await (this.localTracks ?? Promise.resolve([]));
    await Promise.all(
      tracks.map((track) => {
        if (track instanceof LocalVideoTrack && plan && this.caps) {
          this.videoTrack = track;
          return room.localParticipant.publishTrack(track, {
            source: Track.Source.Camera,
            simulcast: plan.layers.length > 0,
            videoSimulcastLayers: plan.layers,
            videoEncoding: {
              maxBitrate: this.caps.maxBitrate,
              maxFramerate: plan.resolution.frameRate,
            },
            // Keep lip-reading frame rate when bandwidth drops; resolution gives way first.
            degradationPreference: "maintain-framerate",
          });
        }
        return room.localParticipant.publishTrack(track, { source: Track.Source.Microphone });
      }),
    );
    this.ticker = window.setInterval(
      () => void this.apply(this.policy.tick(performance.now())),
      1000,
    );
  }

  /** The room's events, registered once: connect() runs again on every rejoin. */
  private listen(): void {
    this.listening = true;
    const room = this.room;
    room
      .on(RoomEvent.RoomMetadataChanged, (metadata) =>
        this.hooks.onRecording(recordingFromMetadata(metadata)),
      )
      .on(RoomEvent.ConnectionQualityChanged, (quality: ConnectionQuality, p: Participant) => {
        if (p.identity !== room.localParticipant.identity) return;
        void this.apply(this.policy.report(qualityName(quality), performance.now()));
      })
      .on(RoomEvent.TrackSubscribed, (track: RemoteTrack) => this.attach(track))
      .on(RoomEvent.TrackUnsubscribed, (track: RemoteTrack) => {
        track.detach().forEach((el) => el.remove());
        if (track.kind === Track.Kind.Video) this.hooks.onOfficerVideo(null);
      })
      .on(RoomEvent.Reconnecting, () => this.hooks.onReconnecting())
      .on(RoomEvent.Reconnected, () => this.hooks.onReconnected())
      .on(RoomEvent.Disconnected, (reason?: DisconnectReason) => {
        this.stopTicker();
        if (this.ended || this.rejoining) return;
        if (!this.leaving && this.renew && rejoinable(reason)) {
          this.rejoining = true;
          this.hooks.onReconnecting();
          void this.rejoin();
          return;
        }
        this.ended = true;
        if (reason === DisconnectReason.CLIENT_INITIATED) this.hooks.onEnded("left");
        else if (
          reason === DisconnectReason.ROOM_DELETED ||
          reason === DisconnectReason.PARTICIPANT_REMOVED
        )
          this.hooks.onEnded("officer_ended");
        else this.hooks.onEnded("dropped");
      });
  }

  /** LiveKit's own reconnect gave up (the SFU restarted, or the node hosting the room died):
   *  ask the control plane for a fresh token and join again, backing off up to 3 s, until in
   *  or the visit is closed. */
  private async rejoin(): Promise<void> {
    for (let attempt = 0; !this.leaving && !this.ended; attempt++) {
      await new Promise((r) => setTimeout(r, REJOIN_DELAYS_MS[Math.min(attempt, 4)]));
      let fresh: Awaited<ReturnType<RenewToken>>;
      try {
        fresh = await this.renew!();
      } catch {
        continue; // the control plane did not answer: try again
      }
      if ("ended" in fresh) {
        this.rejoining = false;
        this.ended = true;
        this.hooks.onEnded(fresh.ended);
        return;
      }
      try {
        await this.connect(fresh.url, fresh.token);
        await this.publish();
      } catch {
        continue; // the SFU or the room is not back yet
      }
      this.rejoining = false;
      this.hooks.onReconnected();
      return;
    }
    this.rejoining = false;
  }

  /** The local camera track, for the small self-view. */
  get localVideo(): LocalVideoTrack | null {
    return this.videoTrack;
  }

  get layer(): Layer {
    return this.policy.current;
  }

  async setCamera(on: boolean): Promise<void> {
    this.cameraByUser = on;
    if (!this.videoTrack) return;
    if (on && this.policy.current !== "off") await this.videoTrack.unmute();
    if (!on) await this.videoTrack.mute();
  }

  async setMicrophone(on: boolean): Promise<void> {
    await this.room.localParticipant.setMicrophoneEnabled(on);
  }

  async leave(): Promise<void> {
    this.leaving = true;
    await this.room.disconnect(true);
  }

  private async apply(decision: Decision | null): Promise<void> {
    if (!decision) return;
    const track = this.videoTrack;
    if (track) {
      if (decision.layer === "off") {
        await track.mute();
      } else {
        track.setPublishingQuality(LAYER_QUALITY[decision.layer]);
        if (track.isMuted && this.cameraByUser) await track.unmute();
      }
    }
    this.hooks.onQualityDecision(decision);
  }

  private attach(track: RemoteTrack): void {
    const el = track.attach();
    if (track.kind === Track.Kind.Video && el instanceof HTMLVideoElement) {
      el.setAttribute("playsinline", "");
      this.hooks.onOfficerVideo(el);
    } else {
      el.hidden = true;
      document.body.append(el);
    }
  }

  private stopTicker(): void {
    if (this.ticker !== undefined) window.clearInterval(this.ticker);
    this.ticker = undefined;
  }
}
