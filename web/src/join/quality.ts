// How the victim's phone reacts to LiveKit's connection-quality reports during the call.
// Pure logic (no LiveKit, no timers of its own), so the policy is easy to read and test:
// step the video down one layer when quality is poor, drop to audio-only when the link is
// lost or stays poor at the lowest layer, and step back up only after quality has been good
// for a while, so a flapping link does not make the picture jump up and down.

export type Quality = "excellent" | "good" | "poor" | "lost" | "unknown";
export type Layer = "high" | "medium" | "low" | "off";
export type Action = "none" | "lower_video" | "audio_only" | "raise_video" | "video_resumed";

export interface Decision {
  action: Action;
  layer: Layer;
  quality: Quality;
}

/** Poor for this long at one layer steps down again. */
export const POOR_HOLD_MS = 8_000;
/** Good for this long steps up one layer. */
export const GOOD_HOLD_MS = 15_000;

const ORDER: Layer[] = ["off", "low", "medium", "high"];

export class QualityPolicy {
  private layer: Layer;
  private quality: Quality = "unknown";
  private since: number;

  /**
   * @param top the highest layer the connection check allowed ("off" for an audio-only call)
   * @param now a monotonic clock reading in milliseconds
   */
  constructor(
    private readonly top: Layer,
    now: number,
  ) {
    this.layer = top;
    this.since = now;
  }

  get current(): Layer {
    return this.layer;
  }

  /** A quality report for the local participant. */
  report(quality: Quality, now: number): Decision | null {
    if (quality === this.quality) return null;
    this.quality = quality;
    this.since = now;
    if (quality === "lost") return this.to("off", "audio_only");
    if (quality === "poor") return this.down();
    return null;
  }

  /** Called about once a second: acts on a quality that has lasted. */
  tick(now: number): Decision | null {
    const held = now - this.since;
    if (this.quality === "poor" && held >= POOR_HOLD_MS) {
      this.since = now;
      return this.down();
    }
    if ((this.quality === "good" || this.quality === "excellent") && held >= GOOD_HOLD_MS) {
      this.since = now;
      return this.up();
    }
    return null;
  }

  private down(): Decision | null {
    const i = ORDER.indexOf(this.layer);
    if (i <= 0) return null;
    const next = ORDER[i - 1];
    return this.to(next, next === "off" ? "audio_only" : "lower_video");
  }

  private up(): Decision | null {
    const i = ORDER.indexOf(this.layer);
    if (i >= ORDER.indexOf(this.top)) return null;
    const next = ORDER[i + 1];
    return this.to(next, this.layer === "off" ? "video_resumed" : "raise_video");
  }

  private to(layer: Layer, action: Action): Decision | null {
    if (layer === this.layer) return null;
    this.layer = layer;
    return { action, layer, quality: this.quality };
  }
}
