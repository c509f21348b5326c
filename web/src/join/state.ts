// What the join page remembers across a reload: kept in sessionStorage only (never
// localStorage), so it dies with the tab, and the quick exit wipes it at once.

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
  | "ended";

/** What the victim will publish, as the token endpoint names it. */
export type Mode = TokenMode;

export interface JoinState {
  /** The join code this session came from; already spent, so harmless to keep. */
  code: string;
  session: string;
  visitId: string;
  officerCollar: string;
  screen: Screen;
  /** What the victim will publish; set by the preview and the connection check. */
  mode: Mode;
  /** Why the victim was told "not now" (eligibility answers). */
  notNowReason?: "under_18" | "offender_present" | "not_safe";
  /** The last connection verdict class, shown again after a reload. */
  verdict?: string;
}

const KEY = "evr.join";

export function load(): JoinState | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as JoinState) : null;
  } catch {
    return null;
  }
}

export function save(state: JoinState): void {
  try {
    sessionStorage.setItem(KEY, JSON.stringify(state));
  } catch {
    // Private browsing with storage full or blocked: the page still works until a reload.
  }
}

export function clearAll(): void {
  try {
    sessionStorage.clear();
  } catch {
    // Nothing to clear.
  }
}
