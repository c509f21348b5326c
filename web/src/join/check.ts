// The join page's side of the bandwidth check and the token gate, adapting the check module
// (web/src/check/bandwidth.ts) and the token endpoint to what the screens need.

import type { ApiErrorBody, Token, TokenRequest } from "../api/types";
import { ApiError, call } from "../common/api";
import {
  type CheckProgress,
  ConnectionCheckError,
  type VerdictClass,
  runConnectionCheck,
} from "../check/bandwidth";
import type { PublishCaps } from "./call";
import type { Mode } from "./state";

export type { VerdictClass };

export interface CheckOutcome {
  klass: VerdictClass;
}

const CLASSES: readonly VerdictClass[] = ["hd", "sd", "audio_only", "insufficient"];

export async function checkConnection(
  session: string,
  onProgress: (fraction: number) => void,
): Promise<CheckOutcome> {
  try {
    const verdict = await runConnectionCheck({
      apiBase: "",
      session,
      onProgress: (p: CheckProgress) => onProgress(Math.max(0, Math.min(1, p.fraction))),
    });
    return { klass: CLASSES.includes(verdict.verdict) ? verdict.verdict : "insufficient" };
  } catch (err) {
    if (err instanceof ConnectionCheckError) {
      // The server's own message, where it sent one, is written for the person on the phone.
      const body = err.body as { error?: Partial<ApiErrorBody["error"]> } | null;
      throw new ApiError(
        err.status,
        body?.error?.code ?? "check_failed",
        body?.error?.message ??
          "The check could not finish. Please check your internet connection and try again.",
        body,
      );
    }
    throw new ApiError(
      0,
      "check_failed",
      "The check could not finish. Please check your internet connection and try again.",
      null,
    );
  }
}

export interface Issued {
  url: string;
  token: string;
  caps: PublishCaps | null;
  /** Seconds the token is valid for from when it was issued. */
  expiresIn: number;
}

/** Ask for a LiveKit token in `mode`; the server enforces what the latest check allows. */
export async function requestToken(session: string, mode: Mode): Promise<Issued> {
  const issued = await call<Token>("/api/v1/participant/token", {
    bearer: session,
    body: { mode } satisfies TokenRequest,
  });
  const c = issued.publish_caps;
  return {
    url: issued.url,
    token: issued.token,
    expiresIn: issued.expires_in,
    caps:
      mode === "video" && c
        ? {
            maxWidth: c.max_width,
            maxHeight: c.max_height,
            maxBitrate: c.max_bitrate,
            maxFramerate: c.max_framerate,
          }
        : null,
  };
}
