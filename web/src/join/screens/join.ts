// Screen "join" (step 6): ready to join, then waiting for the officer to open the call for as
// long as it takes; the server decides whether video is still allowed.

import { ApiError } from "../../common/api";
import { h, show } from "../../common/dom";
import { requestToken } from "../check";
import { go, main, page, report } from "../page";
import type { Mode } from "../state";
import { actions, busyButton, officerLine, para, stepLabel } from "../ui";
import { startCall } from "./in-call";
import { inPersonButton } from "./in-person";

const WAIT_POLL_MS = 5000;

export function renderJoin(): void {
  const mode: Mode = page.state!.mode;
  const status = h("p", { role: "status", class: "status" }, "");
  const join = busyButton(mode === "video" ? "Join the video call" : "Join the voice call", () =>
    joinWhenOpen(mode, status, join),
  );
  show(
    main,
    stepLabel(6),
    h("h1", {}, "Ready to join"),
    ...para(
      `${officerLine(page.state!)} will talk to you.`,
      mode === "video"
        ? "They will see and hear you. You will see and hear them."
        : "This is a voice call: the officer will hear you but not see you.",
    ),
    actions(join, inPersonButton("I would rather have a visit")),
    status,
  );
}

async function joinWhenOpen(mode: Mode, status: HTMLElement, join: HTMLButtonElement): Promise<void> {
  report("join", "started", mode);
  let waitingReported = false;
  for (;;) {
    try {
      const issued = await requestToken(page.state!.session, mode);
      await startCall(issued.url, issued.token, issued.caps);
      return;
    } catch (err) {
      if (err instanceof ApiError && err.code === "conflict") {
        // The officer has not opened the call yet: wait here, for as long as it takes.
        join.hidden = true;
        if (!waitingReported) {
          report("join", "started", "waiting for the officer");
          const heading = main.querySelector("h1");
          if (heading) heading.textContent = "Waiting for the officer";
        }
        waitingReported = true;
        status.textContent =
          "The officer will start the call soon. Please keep this page open. You do not need to do anything.";
        await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
        continue;
      }
      join.hidden = false;
      if (err instanceof ApiError && err.code === "connection_check_required") {
        // The check is only trusted for a while; an old one is simply run again.
        go("check");
        return;
      }
      if (err instanceof ApiError && err.code === "video_not_available") {
        page.state!.mode = "audio_only";
        go("join");
        main
          .querySelector(".actions")
          ?.before(
            h(
              "div",
              { class: "notice notice--warn", role: "alert" },
              "Your connection is only good enough for a voice call now. You can join by voice, or ask for a visit.",
            ),
          );
        return;
      }
      throw err;
    }
  }
}
