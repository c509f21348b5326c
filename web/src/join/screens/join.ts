// Screen "join" (step 6): ready to join, then waiting for the officer to open the call for as
// long as it takes; the server decides whether video is still allowed.

import { ApiError } from "../../common/api";
import { h, show } from "../../common/dom";
import { t } from "../../i18n";
import { loadRtc } from "../lazy";
import { go, main, page, report, setTitle } from "../page";
import type { Issued } from "../check";
import type { Mode } from "../state";
import { actions, busyButton, officerLine, para, stepLabel } from "../ui";
import { inPersonButton } from "./in-person";

/** Asking again every second for the first minute (the officer is usually about to start),
 *  then every 5 s for as long as it takes. */
const WAIT_POLL_FAST_MS = 1000;
const WAIT_POLL_MS = 5000;
const FAST_FOR_MS = 60_000;

/** A token asked for as this screen shows, so the Join tap does not wait for one (issue 13).
 *  It is the same token the tap would get (same session, same mode, same server checks), and
 *  it is used only while young; otherwise the tap asks again. */
interface Early {
  session: string;
  mode: Mode;
  askedAt: number;
  issued: Promise<Issued | null>;
}
let early: Early | null = null;
const EARLY_MAX_AGE_MS = 30_000;

function askEarly(session: string, mode: Mode): void {
  const askedAt = performance.now();
  // Refused while the officer has not opened the call (409): the tap asks again and waits.
  const issued = loadRtc()
    .then((rtc) => rtc.requestToken(session, mode))
    .catch(() => null);
  early = { session, mode, askedAt, issued };
}

/** The early token for this session and mode if it is still young, once. */
async function takeEarly(session: string, mode: Mode): Promise<Issued | null> {
  const e = early;
  early = null;
  if (!e || e.session !== session || e.mode !== mode) return null;
  const issued = await e.issued;
  if (!issued) return null;
  const age = performance.now() - e.askedAt;
  return age < Math.min(EARLY_MAX_AGE_MS, (issued.expiresIn * 1000) / 2) ? issued : null;
}

export function renderJoin(): void {
  const mode: Mode = page.state!.mode;
  askEarly(page.state!.session, mode);
  const status = h("p", { role: "status", class: "status" }, "");
  const join = busyButton(mode === "video" ? t("join.joinVideo") : t("join.joinVoice"), () =>
    joinWhenOpen(mode, status, join),
  );
  show(
    main,
    stepLabel(6),
    h("h1", {}, t("join.title")),
    ...para(
      t("join.talk", { officer: officerLine(page.state!) }),
      mode === "video" ? t("join.video") : t("join.voice"),
    ),
    actions(join, inPersonButton(t("inPerson.askShort"))),
    status,
  );
}

async function joinWhenOpen(mode: Mode, status: HTMLElement, join: HTMLButtonElement): Promise<void> {
  report("join", "started", mode);
  let waitingReported = false;
  const waitStart = performance.now();
  // Loaded in the background since the first screen; a failure here shows the usual error.
  const { requestToken, startCall } = await loadRtc();
  let fromEarly = false;
  for (;;) {
    try {
      const session = page.state!.session;
      const ready: Issued | null = fromEarly ? null : await takeEarly(session, mode);
      fromEarly = ready !== null;
      const issued = ready ?? (await requestToken(session, mode));
      await startCall(issued.url, issued.token, issued.caps);
      return;
    } catch (err) {
      if (fromEarly) {
        // The early token did not get in (expired, or the room changed): ask for a fresh one.
        continue;
      }
      if (err instanceof ApiError && err.code === "conflict") {
        // The officer has not opened the call yet: wait here, for as long as it takes.
        join.hidden = true;
        if (!waitingReported) {
          report("join", "started", "waiting for the officer");
          const heading = main.querySelector("h1");
          if (heading) heading.textContent = t("join.waitingTitle");
          setTitle();
        }
        waitingReported = true;
        status.textContent = t("join.waiting");
        const fast = performance.now() - waitStart < FAST_FOR_MS;
        await new Promise((resolve) => setTimeout(resolve, fast ? WAIT_POLL_FAST_MS : WAIT_POLL_MS));
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
              t("join.onlyVoice"),
            ),
          );
        return;
      }
      throw err;
    }
  }
}
