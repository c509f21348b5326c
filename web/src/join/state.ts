// What the join page remembers across a reload and across tabs: the SMS link opened again on
// the same phone (often in a new tab) must continue the journey, not meet "already used". So
// the state is kept in localStorage, but only for as long as the participant session lives
// (the server's session TTL; it refuses an older session anyway), and the quick exit wipes
// it, with sessionStorage, at once. It holds no personal details: a session secret, ids, the
// officer's name and the crime reference the victim was sent.

import type { TokenMode } from "../api/types";

export type Screen =
  | "choose"
  | "eligibility"
  | "not-now"
  | "consent"
  | "preview"
  | "check"
  | "join"
  | "in-person"
  | "interpreter"
  | "ended";

/** An answer given and sent in the background (outbox.ts); kept until the server records it. */
export interface Answer {
  path: string;
  body: unknown;
  /** The screen that gave the answer: where a refusal takes the victim back to. */
  from: Screen;
  /** For the safety questions: which question to show again. */
  question?: number;
}

/** What the victim will publish, as the token endpoint names it. */
export type Mode = TokenMode;

export interface JoinState {
  /** The join code this session came from; already spent, so harmless to keep. */
  code: string;
  session: string;
  visitId: string;
  officerCollar: string;
  officerName?: string | null;
  officerRank?: string | null;
  crimeReference?: string;
  /** When the link was opened (ms since the epoch): the state is dropped after MAX_AGE_MS. */
  savedAt?: number;
  screen: Screen;
  /** What the victim will publish; set by the preview and the connection check. */
  mode: Mode;
  /** Which safety question is showing (one question per page), and the answers so far. */
  question?: number;
  answers?: Record<string, boolean>;
  /** The language the victim asked an interpreter for, once asked. */
  interpreterLanguage?: string;
  /** Why the victim was told "not now" (eligibility answers). */
  notNowReason?: "under_18" | "offender_present" | "not_safe";
  /** The last connection verdict class, shown again after a reload. */
  verdict?: string;
  /** Answers given but not yet recorded by the server, sent again after a reload. */
  pending?: Answer[];
}

const KEY = "evr.join";
/** The server's default participant session lifetime ([join] session_ttl_hours = 4). */
const MAX_AGE_MS = 4 * 3600 * 1000;

export function load(): JoinState | null {
  try {
    const raw = localStorage.getItem(KEY);
    const state = raw ? (JSON.parse(raw) as JoinState) : null;
    if (state && (state.savedAt ?? 0) + MAX_AGE_MS < Date.now()) {
      clearAll();
      return null;
    }
    return state;
  } catch {
    return null;
  }
}

export function save(state: JoinState): void {
  state.savedAt ??= Date.now();
  try {
    localStorage.setItem(KEY, JSON.stringify(state));
  } catch {
    // Private browsing with storage full or blocked: the page still works until a reload.
  }
}

/** Forget everything this page stored on the phone (the quick exit, a refused session). */
export function clearAll(): void {
  for (const store of [sessionStorage, localStorage]) {
    try {
      store.clear();
    } catch {
      // Nothing to clear.
    }
  }
}
