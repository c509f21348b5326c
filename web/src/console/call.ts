// The officer's side of the call: camera and mic out, the victim's video and audio in, and a
// live line about the victim's camera and connection as LiveKit reports them.

import {
  ConnectionQuality,
  type Participant,
  type RemoteParticipant,
  type RemoteTrack,
  type RemoteTrackPublication,
  Room,
  RoomEvent,
  Track,
} from "livekit-client";

export class OfficerCall {
  readonly room = new Room({ adaptiveStream: false, dynacast: true });
  private readonly attached = new Set<string>();

  constructor(
    private readonly stage: HTMLElement,
    private readonly status: (text: string) => void,
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
      .on(RoomEvent.Disconnected, () => this.status("You are not in the call."));
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

  async leave(): Promise<void> {
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
