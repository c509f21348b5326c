// Opening the link: spend the one-time join code for a session, or carry on with the session
// this tab already has, and explain plainly when the link cannot be used.

import type { ParticipantSession } from "../api/types";
import { ApiError, call } from "../common/api";
import { button, h, show } from "../common/dom";
import { main, page, render } from "./page";
import { load, save } from "./state";
import { actions } from "./ui";

export async function open(): Promise<void> {
  const existing = load();
  const match = /^\/join\/([A-Za-z0-9_-]+)$/.exec(window.location.pathname);
  // A different code in the address bar is a new link (the officer re-sent it): use it.
  if (existing && (!match || match[1] === existing.code)) {
    page.state = existing;
    // Drop the spent code from the address bar and history.
    if (match) window.history.replaceState(null, "", "/join");
    render();
    return;
  }
  if (!match) {
    showProblem(
      "This link does not work",
      "Please open the link from the text message or e-mail the police sent you.",
    );
    return;
  }
  show(main, h("h1", {}, "Opening your link…"), h("p", { role: "status" }, "Please wait."));
  try {
    const joined = await call<ParticipantSession>(`/api/v1/join/${match[1]}`, {
      method: "POST",
    });
    page.state = {
      code: match[1],
      session: joined.session,
      visitId: joined.visit.visit_id,
      officerCollar: joined.visit.officer_collar,
      screen: "choose",
      mode: "video",
    };
    save(page.state);
    window.history.replaceState(null, "", "/join");
    render();
  } catch (err) {
    if (err instanceof ApiError && err.status === 410) {
      showProblem(
        "This link has already been used or has expired",
        "Each link works once. If you closed the page, please ask the officer to send you a new link.",
      );
    } else if (err instanceof ApiError && err.status === 404) {
      showProblem(
        "This link does not work",
        "Please check you opened the whole link from the message. If it still does not work, ask the officer for a new one.",
      );
    } else {
      showProblem(
        "We could not open your link",
        "The internet connection may have dropped. Please try again in a moment.",
        true,
      );
    }
  }
}

function showProblem(title: string, text: string, retry = false): void {
  show(
    main,
    h("h1", {}, title),
    h("p", {}, text),
    h("p", {}, "If you need the police urgently, call 999. For anything else, call 101."),
    retry ? actions(button("Try again", () => void open())) : null,
  );
}
