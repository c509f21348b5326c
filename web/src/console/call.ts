// The officer's side of the call: camera and mic out, the victim's video and audio in, and a
// live line about the victim's camera and connection as LiveKit reports them.

import {
  ConnectionQuality,
  DisconnectReason,
  type Participant,
  type RemoteParticipant,
  type RemoteTrack,
  type RemoteTrackPublication,
  Room,
  RoomEvent,
  Track,
} from "livekit-client";

/** A fresh LiveKit URL and token for this officer's visit, or null once the visit is closed. */
export type RenewToken = () => Promise<{ url: string; token: string } | null>;

/** Seconds between attempts to rejoin after LiveKit's own reconnect gave up. */
const REJOIN_DELAYS_MS = [250, 500, 1000, 2000, 3000];

export class OfficerCall {
  readonly room = new Room({ adaptiveStream: false, dynacast: true });
  private readonly attached = new Set<string>();
  private leaving = false;

  constructor(
    private readonly stage: HTMLElement,
    private readonly status: (text: string) => void,
    // Issue 11: after an SFU restart the old session is gone; rejoin with a fresh token.
    private readonly renew: RenewToken | null = null,
  ) {}

  async start(url: string, token: string): Promise<void> {
    this.room
      .on(RoomEvent.TrackSubscribed, (track: RemoteTrack, _pub, p: RemoteParticipant) =>
        this.attach(track, p),
      )
      .on(RoomEvent.TrackUnsubscribed, (track: RemoteTrack) => {
        if (track.sid) this.attached.delete(track.sid);
        track.detach().forEach((el) => el.remove());
      })
      .on(RoomEvent.TrackMuted, (pub, p: Participant) => {
        if (pub.kind === Track.Kind.Video && p !== this.room.localParticipant)
          this.status(`${p.name || p.identity}: camera paused.`);
      })
      .on(RoomEvent.TrackUnmuted, (pub, p: Participant) => {
        if (pub.kind === Track.Kind.Video && p !== this.room.localParticipant)
          this.status(`${p.name || p.identity}: camera on.`);
      })
      .on(RoomEvent.ConnectionQualityChanged, (q: ConnectionQuality, p: Participant) => {
        if (p === this.room.localParticipant) return;
        if (q === ConnectionQuality.Poor || q === ConnectionQuality.Lost)
          this.status(`${p.name || p.identity}: connection ${q}.`);
      })
      .on(RoomEvent.ParticipantConnected, (p: RemoteParticipant) =>
        this.status(`${p.name || p.identity} joined.`),
      )
      .on(RoomEvent.ParticipantDisconnected, (p: RemoteParticipant) =>
        this.status(`${p.name || p.identity} left.`),
      )
      .on(RoomEvent.Reconnecting, () => this.status("Connection lost, reconnecting…"))
      .on(RoomEvent.Reconnected, () => this.status("Reconnected."))
      .on(RoomEvent.Disconnected, (reason?: DisconnectReason) => {
        if (this.leaving || !this.renew || !rejoinable(reason)) {
          this.status("You are not in the call.");
          return;
        }
        this.status("Connection lost, reconnecting…");
        void this.rejoin();
      });
    await this.join(url, token);
  }

  private async join(url: string, token: string): Promise<void> {
    await this.room.connect(url, token);
    await this.room.startAudio();
    await this.room.localParticipant.enableCameraAndMicrophone();
    this.status("In the call.");
    for (const p of this.room.remoteParticipants.values()) {
      p.trackPublications.forEach((pub: RemoteTrackPublication) => {
        if (pub.track) this.attach(pub.track, p);
      });
    }
  }

  /** LiveKit's own reconnect gave up (e.g. the SFU restarted and forgot the session): ask
   *  the control plane for a fresh token and join again, until in or the visit is closed. */
  private async rejoin(): Promise<void> {
    for (let attempt = 0; !this.leaving; attempt++) {
      await new Promise((r) => setTimeout(r, REJOIN_DELAYS_MS[Math.min(attempt, 4)]));
      try {
        const fresh = await this.renew!();
        if (!fresh) {
          this.status("You are not in the call.");
          return;
        }
        this.attached.clear();
        this.stage.replaceChildren();
        await this.join(fresh.url, fresh.token);
        this.status("Reconnected.");
        return;
      } catch {
        this.status("Connection lost, reconnecting…");
      }
    }
  }

  async leave(): Promise<void> {
    this.leaving = true;
    await this.room.disconnect(true);
    this.stage.replaceChildren();
  }

  private attach(track: RemoteTrack, p: RemoteParticipant): void {
    // A track can be reported both by the event and by the initial scan; show it once.
    const key = track.sid ?? `${p.identity}/${track.kind}`;
    if (this.attached.has(key)) return;
    this.attached.add(key);
    const el = track.attach();
    if (track.kind === Track.Kind.Video) {
      el.setAttribute("aria-label", `Video from ${p.name || p.identity}`);
      el.setAttribute("data-identity", p.identity);
      el.setAttribute("playsinline", "");
      this.stage.append(el);
    } else {
      el.hidden = true;
      this.stage.append(el);
    }
  }
}

/** A disconnect the officer did not choose and the visit did not cause. */
function rejoinable(reason?: DisconnectReason): boolean {
  return (
    reason !== DisconnectReason.CLIENT_INITIATED &&
    reason !== DisconnectReason.ROOM_DELETED &&
    reason !== DisconnectReason.PARTICIPANT_REMOVED &&
    reason !== DisconnectReason.DUPLICATE_IDENTITY
  );
}
