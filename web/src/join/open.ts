// Opening the link: spend the one-time join code for a session, or carry on with the session
// this phone already has (the same link opened again, in this tab or a new one), and explain
// plainly, with what to do next, when the link cannot be used.

import type { ParticipantSession, ParticipantVisit } from "../api/types";
import { ApiError, call } from "../common/api";
import { button, h, show } from "../common/dom";
import { type MessageKey, t } from "../i18n";
import { nextSteps } from "./force";
import { main, page, render, resendPending, setTitle } from "./page";
import { type JoinState, clearAll, load, save } from "./state";
import { actions } from "./ui";

function withVisit(state: JoinState, visit: ParticipantVisit): JoinState {
  return {
    ...state,
    officerCollar: visit.officer_collar,
    officerName: visit.officer_name,
    officerRank: visit.officer_rank,
    crimeReference: visit.crime_reference,
  };
}

/** Carry on with a stored session if the server still accepts it. */
async function resume(existing: JoinState): Promise<boolean> {
  try {
    const visit = await call<ParticipantVisit>("/api/v1/participant/visit", {
      bearer: existing.session,
    });
    problem = null;
    page.state = withVisit(existing, visit);
    save(page.state);
    return true;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 404)) {
      // Expired or replaced by a newer link: forget it, and treat the link as new.
      clearAll();
      return false;
    }
    // Offline for a moment: carry on with what the phone remembers.
    page.state = existing;
    return true;
  }
}

export async function open(): Promise<void> {
  const existing = load();
  const match = /^\/join\/([A-Za-z0-9_-]+)$/.exec(window.location.pathname);
  // A different code in the address bar is a new link (the officer re-sent it): use it.
  if (existing && (!match || match[1] === existing.code) && (await resume(existing))) {
    // Drop the spent code from the address bar and history.
    if (match) window.history.replaceState(null, "", "/join");
    render();
    resendPending();
    return;
  }
  if (!match) {
    showProblem("open.badLink.title", "open.badLink.text");
    return;
  }
  show(main, h("h1", {}, t("open.opening")), h("p", { role: "status" }, t("open.wait")));
  try {
    const joined = await call<ParticipantSession>(`/api/v1/join/${match[1]}`, {
      method: "POST",
    });
    page.state = withVisit(
      {
        code: match[1],
        session: joined.session,
        visitId: joined.visit.visit_id,
        officerCollar: joined.visit.officer_collar,
        screen: "choose",
        mode: "video",
      },
      joined.visit,
    );
    save(page.state);
    window.history.replaceState(null, "", "/join");
    render();
  } catch (err) {
    if (err instanceof ApiError && err.status === 410) {
      showProblem("open.used.title", "open.used.text");
    } else if (err instanceof ApiError && err.status === 404) {
      showProblem("open.badLink.title", "open.notFound.text");
    } else {
      showProblem("open.failed.title", "open.failed.text", true);
    }
  }
}

/** The screen shown when there is no session to carry on with; re-drawn in another language. */
let problem: (() => void) | null = null;

export function rerenderProblem(): boolean {
  problem?.();
  return problem !== null;
}

function showProblem(title: MessageKey, text: MessageKey, retry = false): void {
  problem = () => {
    show(
      main,
      h("h1", {}, t(title)),
      h("p", {}, t(text)),
      nextSteps(null),
      retry ? actions(button(t("common.tryAgain"), () => void open())) : null,
    );
    setTitle();
  };
  problem();
}
