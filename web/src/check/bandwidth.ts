// The connection check, as the victim's phone runs it: the protocol of the control plane's
// control_plane/bandwidth package (its docstring is the reference). The server measures and
// decides everything; this module only moves the bytes and the video it asks for.
//
// Depends on livekit-client and fetch only. The WebRTC leg connects with the ICE servers the
// SFU hands out (no rtcConfig here), so the phone is never pointed at a public STUN server;
// LiveKit falls back to ICE/TCP or TURN by itself when UDP is blocked.

import { Room, Track } from "livekit-client";
import type { LocalTrack } from "livekit-client";

import type {
  CheckPlan,
  CheckProbe,
  CheckRtt,
  CheckUploadTicket,
  CheckVerdict,
  DownloadAck,
  FinishCheck,
  PublishCaps,
  RttRound,
  Sender,
  Transport,
} from "../api/types";

// The protocol's messages are the API's own types, generated from its OpenAPI document.
export type { PublishCaps, Transport };
export type Verdict = CheckVerdict;
export type VerdictClass = CheckVerdict["verdict"];
/** What the victim may choose; "in_person" is always there. */
export type Offer = CheckVerdict["offered"][number];
export type Measurements = CheckVerdict["measurements"];

export type CheckPhase = "start" | "rtt" | "download" | "webrtc" | "upload" | "finish" | "done";

export interface CheckProgress {
  phase: CheckPhase;
  /** 0 to 1, for a progress bar. */
  fraction: number;
}

export interface ConnectionCheckOptions {
  /** "" for the page's own origin. */
  apiBase: string;
  /** The participant session from POST /api/v1/join/{code}. */
  session: string;
  onProgress?: (p: CheckProgress) => void;
  /** A camera track to publish in the probe (e.g. the preview's); it is cloned, not
   *  stopped. Without it the module opens the camera itself and closes it afterwards; with
   *  no camera at all it publishes a drawn pattern, since only the network is measured. */
  camera?: MediaStreamTrack;
}

/** The server refused a step: `status` and `body` are its answer. */
export class ConnectionCheckError extends Error {
  constructor(
    readonly step: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`connection check ${step} failed: HTTP ${status}`);
    this.name = "ConnectionCheckError";
  }
}

/** Seconds past a cap the phone keeps reading (download) or sending (upload). */
const GRACE_S = 0.5;
/** Seconds the WebRTC leg may take to connect before the check goes on without it. */
const PROBE_CONNECT_BUDGET_S = 6;
const STATUS_POLL_MS = 300;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class Api {
  constructor(
    readonly base: string,
    private readonly session: string,
  ) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { Authorization: `Bearer ${this.session}`, ...extra };
  }

  async json<T>(step: string, method: string, path: string, body?: unknown): Promise<T> {
    const resp = await fetch(this.base + path, {
      method,
      cache: "no-store",
      headers: this.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data: unknown = await resp.json().catch(() => null);
    if (!resp.ok) throw new ConnectionCheckError(step, resp.status, data);
    return data as T;
  }
}

/** Run one connection check and return the server's verdict. Throws ConnectionCheckError if
 *  the server refuses a step (e.g. 401 for an expired session, 409 for a closed visit). */
export async function runConnectionCheck(opts: ConnectionCheckOptions): Promise<Verdict> {
  const progress = opts.onProgress ?? (() => undefined);
  const api = new Api(opts.apiBase.replace(/\/$/, ""), opts.session);

  progress({ phase: "start", fraction: 0 });
  const plan = await api.json<CheckPlan>("start", "POST", "/api/v1/participant/check");

  // Nothing else shares the link while the download runs: the WebRTC leg's joining would
  // take a slow downlink's bytes, and its video would queue the download's TCP
  // acknowledgements on a slow uplink, so the downlink would read low. The leg starts
  // after it, and the upload waits for the leg, so the two never share the uplink.
  progress({ phase: "rtt", fraction: 0.05 });
  await measureRtt(api, plan);
  progress({ phase: "download", fraction: 0.15 });
  await download(api, plan);
  progress({ phase: "webrtc", fraction: 0.35 });
  const { transport, sender } = await runProbe(api, plan, opts.camera);

  progress({ phase: "upload", fraction: 0.7 });
  await upload(api, plan);

  progress({ phase: "finish", fraction: 0.95 });
  // The sender counters let the server see loss the SFU repaired before its subscriber.
  const verdict = await api.json<Verdict>("finish", "POST", plan.finish_path, {
    transport,
    sender,
  } satisfies FinishCheck);
  progress({ phase: "done", fraction: 1 });
  return verdict;
}

async function measureRtt(api: Api, plan: CheckPlan): Promise<void> {
  let nonce: string | null = null;
  for (let i = 0; i <= plan.rtt.rounds; i++) {
    const answer: CheckRtt = await api.json("rtt", "POST", plan.rtt.path, {
      nonce,
    } satisfies RttRound);
    if (answer.done) return;
    nonce = answer.nonce;
  }
}

async function download(api: Api, plan: CheckPlan): Promise<void> {
  const spec = plan.download;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), (spec.max_seconds + GRACE_S) * 1000);
  const decoder = new TextDecoder("ascii");
  let received = 0;
  let carry = new Uint8Array(0); // bytes just before `received`: a nonce may straddle reads
  let lastNonce: string | null = null;
  try {
    const resp = await fetch(api.base + spec.path, {
      headers: api.headers(),
      cache: "no-store",
      signal: abort.signal,
    });
    if (!resp.ok || !resp.body) {
      throw new ConnectionCheckError("download", resp.status, await resp.text());
    }
    const reader = resp.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done || !value) break;
      const buf = new Uint8Array(carry.length + value.length);
      buf.set(carry);
      buf.set(value, carry.length);
      const bufStart = received - carry.length;
      received += value.length;
      const boundary = Math.floor(received / spec.chunk_bytes) * spec.chunk_bytes;
      if (boundary > received - value.length) {
        // The latest complete chunk ends at `boundary`, and its nonce ends it.
        const at = boundary - spec.nonce_bytes - bufStart;
        lastNonce = decoder.decode(buf.subarray(at, at + spec.nonce_bytes));
      }
      carry = buf.slice(Math.max(0, buf.length - spec.nonce_bytes));
    }
  } catch (err) {
    if (err instanceof ConnectionCheckError) throw err;
    // Aborted at our own deadline, or the stream broke: acknowledge what did arrive.
  } finally {
    clearTimeout(timer);
    abort.abort(); // stop paying for bytes the server may still have queued
  }
  if (lastNonce === null) throw new ConnectionCheckError("download", 0, "no complete chunk");
  await api.json("download/ack", "POST", spec.ack_path, {
    nonce: lastNonce,
  } satisfies DownloadAck);
}

function randomBytes(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
  }
  return bytes;
}

async function upload(api: Api, plan: CheckPlan): Promise<void> {
  // Browsers only stream request bodies over HTTP/2, so send one fixed body; the server
  // stops reading at its caps and hangs up, and our timer stops the sending as well.
  const body = randomBytes(plan.upload.max_bytes);
  const ticket: CheckUploadTicket = await api.json(
    "upload/ticket",
    "POST",
    plan.upload.path + "/ticket",
  );
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), (ticket.max_seconds + GRACE_S) * 1000);
  try {
    const resp = await fetch(
      `${api.base}${plan.upload.path}?ticket=${encodeURIComponent(ticket.ticket)}`,
      {
        method: "POST",
        headers: api.headers({ "Content-Type": "application/octet-stream" }),
        body,
        cache: "no-store",
        signal: abort.signal,
      },
    );
    if (resp.status >= 400) {
      throw new ConnectionCheckError("upload", resp.status, await resp.json().catch(() => null));
    }
  } catch (err) {
    if (err instanceof ConnectionCheckError) throw err;
    // The server hung up at its cap, or our timer fired: the server has its figure anyway.
  } finally {
    clearTimeout(timer);
  }
}

interface ProbeStats {
  transport: Transport | null;
  sender: Sender | null;
}

/** Publish the camera into the probe room until the server has seen enough video; return
 *  the ICE candidate pair used and the video sender's counters (nulls if the leg could not
 *  connect). */
async function runProbe(
  api: Api,
  plan: CheckPlan,
  camera?: MediaStreamTrack,
): Promise<ProbeStats> {
  const none: ProbeStats = { transport: null, sender: null };
  const spec = plan.probe;
  const room = new Room({ adaptiveStream: false, dynacast: false });
  let media: MediaStreamTrack | null = null;
  const cleanups: Array<() => void> = [];
  try {
    const connected = await Promise.race([
      room.connect(spec.url, spec.token, { autoSubscribe: false }).then(() => true),
      sleep(PROBE_CONNECT_BUDGET_S * 1000).then(() => false),
    ]);
    if (!connected) return none;
    media = camera ? camera.clone() : await openCamera(spec.video);
    const publication = await room.localParticipant.publishTrack(media, {
      source: Track.Source.Camera,
      simulcast: false,
      videoEncoding: {
        maxBitrate: spec.video.max_bitrate,
        maxFramerate: spec.video.max_framerate,
      },
    });
    const started = performance.now();
    await sleep(spec.seconds * 1000);
    while ((performance.now() - started) / 1000 < spec.max_seconds) {
      const status: CheckProbe = await api.json("probe", "GET", spec.status_path);
      if (status.done) break;
      await sleep(STATUS_POLL_MS);
    }
    return publication.track ? await probeStats(publication.track) : none;
  } catch (err) {
    if (err instanceof ConnectionCheckError) throw err;
    return none; // the server sees no media and says so in its verdict
  } finally {
    media?.stop();
    for (const cleanup of cleanups) cleanup();
    await room.disconnect().catch(() => undefined);
  }

  async function openCamera(video: CheckPlan["probe"]["video"]): Promise<MediaStreamTrack> {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: {
          width: { ideal: video.width },
          height: { ideal: video.height },
          frameRate: { ideal: video.max_framerate },
        },
      });
      const track = stream.getVideoTracks()[0];
      if (track) return track;
    } catch {
      // No camera, or no permission: the check is about the network, so a drawn picture
      // does as well, and a victim who only wants a voice call is not refused for it.
    }
    const pattern = drawnPattern(video.width, video.height, video.max_framerate);
    cleanups.push(pattern.stop);
    return pattern.track;
  }
}

/** A moving pattern drawn on a canvas, as a video track. */
function drawnPattern(
  width: number,
  height: number,
  fps: number,
): { track: MediaStreamTrack; stop: () => void } {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  let frame = 0;
  const draw = () => {
    if (!ctx) return;
    for (let y = 0; y < height; y += 40) {
      for (let x = 0; x < width; x += 40) {
        const v = (x * 7 + y * 13 + frame * 9) % 256;
        ctx.fillStyle = `rgb(${v}, ${(v * 3) % 256}, ${255 - v})`;
        ctx.fillRect(x, y, 40, 40);
      }
    }
    frame += 1;
  };
  draw();
  const timer = setInterval(draw, 1000 / fps);
  const track = canvas.captureStream(fps).getVideoTracks()[0]!;
  return {
    track,
    stop: () => {
      clearInterval(timer);
      track.stop();
    },
  };
}

async function probeStats(track: LocalTrack): Promise<ProbeStats> {
  const report = await track.getRTCStatsReport().catch(() => undefined);
  if (!report) return { transport: null, sender: null };
  const stats = [...report.values()] as Array<Record<string, unknown>>;
  return { transport: selectedPair(stats), sender: senderCounts(stats) };
}

/** The video's outbound-rtp counters and the loss the SFU's receiver reports gave
 *  (remote-inbound-rtp): what `sender` in POST .../finish takes. */
function senderCounts(stats: Array<Record<string, unknown>>): Sender | null {
  const count = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
  const out = stats.filter((s) => s.type === "outbound-rtp" && s.kind === "video");
  if (out.length === 0) return null;
  const ids = new Set(out.map((s) => s.id));
  const remote = stats.filter((s) => s.type === "remote-inbound-rtp" && ids.has(s.localId));
  const sum = (rows: typeof stats, key: string) =>
    rows.reduce((total, s) => total + count(s[key]), 0);
  return {
    packets_sent: sum(out, "packetsSent"),
    retransmitted_packets_sent: sum(out, "retransmittedPacketsSent"),
    nack_count: sum(out, "nackCount"),
    remote_packets_lost: remote.length > 0 ? sum(remote, "packetsLost") : null,
  };
}

function selectedPair(stats: Array<Record<string, unknown>>): Transport | null {
  const selected = new Set(
    stats.filter((s) => s.type === "transport").map((s) => s.selectedCandidatePairId),
  );
  const pair = stats.find(
    (s) =>
      s.type === "candidate-pair" &&
      (selected.has(s.id) || (s.nominated === true && s.state === "succeeded")),
  );
  const local = pair && stats.find((s) => s.id === pair.localCandidateId);
  if (!local) return null;
  const text = (v: unknown) => (typeof v === "string" ? v : null);
  return {
    protocol: text(local.protocol),
    candidate_type: text(local.candidateType),
    relay_protocol: text(local.relayProtocol),
  };
}
