// The victim's join page: one screen at a time, in plain words, with the victim choosing at
// every step. The join code is spent once; the session it gives is kept in sessionStorage so a
// reload does not burn the single-use link.

import "../styles/join.css";

import { ApiError, call } from "../common/api";
import { button, h, show } from "../common/dom";
import { type CallHooks, type EndReason, VictimCall } from "./call";
import { type CheckOutcome, checkConnection, requestToken } from "./check";
import type { Decision } from "./quality";
import { type JoinState, type Mode, type Screen, clearAll, load, save } from "./state";

const main = document.getElementById("main") as HTMLElement;
const quickExit = document.getElementById("quick-exit") as HTMLAnchorElement;
const NOTICE_VERSION = "2026-01";
const WAIT_POLL_MS = 5000;

let state: JoinState | null = null;
let preview: MediaStream | null = null;
let activeCall: VictimCall | null = null;

interface ParticipantVisit {
  visit_id: string;
  role: string;
  status: string;
  officer_collar: string;
}

type Step = "choice" | "eligibility" | "consent" | "preview" | "check" | "join" | "left";
type StepState = "started" | "done" | "failed" | "declined";

// ---------------------------------------------------------------- plumbing

function api<T>(path: string, body?: unknown, keepalive = false): Promise<T> {
  return call<T>(path, { bearer: state?.session, body, keepalive });
}

/** Tell the officer how far the victim got. Never blocks or breaks the page. */
function report(step: Step | "quick_exit", stepState: StepState, detail = ""): void {
  if (!state) return;
  api("/api/v1/participant/progress", { step, state: stepState, detail }, true).catch(() => {
    // Progress is for the officer's view only; the victim's journey must not stop for it.
  });
}

function go(screen: Screen): void {
  if (!state) return;
  state.screen = screen;
  save(state);
  render();
}

function stopPreview(): void {
  preview?.getTracks().forEach((t) => t.stop());
  preview = null;
}

function para(...lines: string[]): HTMLElement[] {
  return lines.map((line) => h("p", {}, line));
}

function errorBox(message: string): HTMLElement {
  return h("div", { class: "notice notice--error", role: "alert" }, message);
}

function actions(...buttons: (HTMLElement | null)[]): HTMLElement {
  return h("div", { class: "actions" }, ...buttons);
}

function emergency(): HTMLElement {
  return h(
    "div",
    { class: "notice notice--emergency" },
    h("p", {}, h("strong", {}, "If you are in danger now, call 999.")),
    h(
      "p",
      {},
      "If you cannot speak, call 999, listen, then press 55 when asked. They will know it is an emergency.",
    ),
  );
}

/** A button that runs `work`, shows it is busy, and shows any error next to it. */
function busyButton(
  label: string,
  work: () => Promise<void>,
  variant: "primary" | "secondary" = "primary",
): HTMLButtonElement {
  const b = button(
    label,
    () => {
      if (b.disabled) return;
      b.disabled = true;
      b.setAttribute("aria-busy", "true");
      const old = b.parentElement?.parentElement?.querySelector(".notice--error");
      old?.remove();
      work()
        .catch((err: unknown) => {
          const message =
            err instanceof ApiError ? err.message : "Something went wrong. Please try again.";
          b.parentElement?.before(errorBox(message));
        })
        .finally(() => {
          b.disabled = false;
          b.removeAttribute("aria-busy");
        });
    },
    variant,
  );
  return b;
}

// ---------------------------------------------------------------- quick exit

function quickExitNow(ev?: Event): void {
  ev?.preventDefault();
  report("quick_exit", "done");
  stopPreview();
  if (activeCall) void activeCall.leave();
  clearAll();
  state = null;
  main.replaceChildren();
  // replace(): the back button does not return to this page.
  window.location.replace(quickExit.href);
}

function wireQuickExit(): void {
  quickExit.addEventListener("click", quickExitNow);
  // GOV.UK's "Exit this page" pattern: pressing Shift three times also leaves.
  let presses: number[] = [];
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Shift" || ev.repeat) return;
    const now = Date.now();
    presses = [...presses.filter((t) => now - t < 1500), now];
    if (presses.length >= 3) quickExitNow(ev);
  });
}

// ---------------------------------------------------------------- opening the link

async function open(): Promise<void> {
  const existing = load();
  const match = /^\/join\/([A-Za-z0-9_-]+)$/.exec(window.location.pathname);
  // A different code in the address bar is a new link (the officer re-sent it): use it.
  if (existing && (!match || match[1] === existing.code)) {
    state = existing;
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
    const joined = await call<{ session: string; visit: ParticipantVisit }>(
      `/api/v1/join/${match[1]}`,
      { method: "POST" },
    );
    state = {
      code: match[1],
      session: joined.session,
      visitId: joined.visit.visit_id,
      officerCollar: joined.visit.officer_collar,
      screen: "choose",
      mode: "video",
    };
    save(state);
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

// ---------------------------------------------------------------- the screens

function render(): void {
  if (!state) return;
  const screens: Record<Screen, () => void> = {
    choose: renderChoose,
    eligibility: renderEligibility,
    "not-now": renderNotNow,
    consent: renderConsent,
    preview: renderPreview,
    check: renderCheck,
    join: renderJoin,
    "in-person": renderInPerson,
    ended: renderEnded,
  };
  screens[state.screen]();
}

function stepLabel(n: number): HTMLElement {
  return h("p", { class: "step" }, `Step ${n} of 6`);
}

async function chooseInPerson(): Promise<void> {
  await api("/api/v1/participant/choice", { choice: "in_person" });
  report("choice", "done", "in person");
  stopPreview();
  go("in-person");
}

function inPersonButton(label = "I would like an officer to visit me"): HTMLButtonElement {
  return busyButton(label, chooseInPerson, "secondary");
}

function renderChoose(): void {
  report("choice", "started");
  show(
    main,
    stepLabel(1),
    h("h1", {}, "How would you like to talk to the police?"),
    ...para(
      `A police officer (collar number ${state!.officerCollar}) would like to talk to you about what happened.`,
      "You can have a video call on this phone, or an officer can come to see you. Both are fine. You choose.",
    ),
    actions(
      busyButton("Video call on this phone", async () => {
        await api("/api/v1/participant/choice", { choice: "video" });
        report("choice", "done", "video");
        go("eligibility");
      }),
      inPersonButton(),
    ),
  );
}

function yesNo(name: string, question: string, hint: string): HTMLFieldSetElement {
  const hintId = `${name}-hint`;
  const errorId = `${name}-error`;
  return h(
    "fieldset",
    { class: "question", "aria-describedby": hintId },
    h("legend", {}, question),
    h("p", { class: "hint", id: hintId }, hint),
    h("p", { class: "field-error", id: errorId, hidden: true }, "Please choose Yes or No."),
    h(
      "div",
      { class: "choices" },
      h(
        "label",
        { class: "choice" },
        h("input", { type: "radio", name, value: "yes" }),
        h("span", {}, "Yes"),
      ),
      h(
        "label",
        { class: "choice" },
        h("input", { type: "radio", name, value: "no" }),
        h("span", {}, "No"),
      ),
    ),
  );
}

async function hasCamera(): Promise<boolean> {
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    return devices.some((d) => d.kind === "videoinput");
  } catch {
    return false;
  }
}

function renderEligibility(): void {
  report("eligibility", "started");
  const form = h(
    "form",
    { novalidate: true },
    yesNo(
      "adult",
      "Are you 18 or over?",
      "If you are under 18, choose Yes only if a parent or guardian is with you now.",
    ),
    yesNo(
      "offender_away",
      "Is the person you are reporting away from you now?",
      "They should not be with you, or able to hear you, during the call.",
    ),
    yesNo("safe", "Is it safe for you to talk now?", "You can stop the call at any time."),
    actions(h("button", { type: "submit", class: "button button--primary" }, "Continue")),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const answers: Record<string, boolean | undefined> = {};
    let firstMissing: HTMLInputElement | null = null;
    for (const name of ["adult", "offender_away", "safe"]) {
      const picked = form.querySelector<HTMLInputElement>(`input[name="${name}"]:checked`);
      const error = form.querySelector<HTMLElement>(`#${name}-error`)!;
      const fieldset = error.closest("fieldset")!;
      error.hidden = picked !== null;
      fieldset.classList.toggle("question--error", picked === null);
      fieldset.setAttribute(
        "aria-describedby",
        picked === null ? `${name}-error ${name}-hint` : `${name}-hint`,
      );
      if (!picked) firstMissing ??= form.querySelector(`input[name="${name}"]`);
      answers[name] = picked ? picked.value === "yes" : undefined;
    }
    if (firstMissing) {
      (firstMissing as HTMLInputElement).focus();
      return;
    }
    const submit = form.querySelector<HTMLButtonElement>("button[type=submit]")!;
    submit.disabled = true;
    void (async () => {
      try {
        await api("/api/v1/participant/eligibility", {
          adult_or_guardian: answers.adult,
          offender_not_present: answers.offender_away,
          smartphone_with_video: await hasCamera(),
          safe_to_talk: answers.safe,
        });
      } catch (err) {
        submit.disabled = false;
        form.before(errorBox(err instanceof ApiError ? err.message : "Please try again."));
        return;
      }
      const ok = answers.adult && answers.offender_away && answers.safe;
      if (ok) {
        report("eligibility", "done");
        go("consent");
        return;
      }
      state!.notNowReason = !answers.adult
        ? "under_18"
        : !answers.offender_away
          ? "offender_present"
          : "not_safe";
      report("eligibility", "declined", state!.notNowReason);
      go("not-now");
    })();
  });
  show(
    main,
    stepLabel(2),
    h("h1", {}, "Three quick questions"),
    h("p", {}, "These help us keep you safe during the call."),
    form,
  );
}

function renderNotNow(): void {
  const reason = state!.notNowReason;
  const text =
    reason === "under_18"
      ? [
          "For a video call, a parent or guardian needs to be with you.",
          "Keep this page open and come back to it when they are with you, or ask for an officer to visit.",
        ]
      : [
          "Please do not start the video call now. Your safety comes first.",
          "Keep this page open and come back to it when it is safe, or ask for an officer to visit.",
        ];
  show(
    main,
    h("h1", {}, "That is OK. We can talk another time"),
    ...para(...text),
    h("p", {}, "If you close this page, the officer can send you a new link."),
    emergency(),
    actions(
      button("It is safe now. Go back", () => go("eligibility"), "secondary"),
      inPersonButton(),
    ),
  );
}

function renderConsent(): void {
  report("consent", "started");
  show(
    main,
    stepLabel(3),
    h("h1", {}, "Before the call"),
    h(
      "ul",
      { class: "plain-list" },
      h("li", {}, "The call is between you and a police officer."),
      h(
        "li",
        {},
        h("strong", {}, "The officer will switch recording on before you give a statement. "),
        "You will see “Recording is on” on your screen while it is recording.",
      ),
      h("li", {}, "Recordings are kept safely by the police as evidence."),
      h("li", {}, "You can stop the call at any time, or ask for a visit instead."),
    ),
    h("p", {}, "Are you happy to have a video call with the police?"),
    actions(
      busyButton("Yes, I agree to the call", async () => {
        await api("/api/v1/participant/consent", {
          consented: true,
          notice_version: NOTICE_VERSION,
        });
        report("consent", "done");
        go("preview");
      }),
      busyButton(
        "No, I do not want a video call",
        async () => {
          await api("/api/v1/participant/consent", {
            consented: false,
            notice_version: NOTICE_VERSION,
          });
          report("consent", "declined");
          await chooseInPerson();
        },
        "secondary",
      ),
    ),
  );
}

function renderPreview(): void {
  report("preview", "started");
  const video = h("video", {
    class: "preview",
    autoplay: true,
    muted: true,
    playsinline: true,
    "aria-label": "Your camera",
  });
  video.muted = true;
  const meter = h("div", { class: "meter__fill" });
  const meterBox = h(
    "div",
    { class: "meter", role: "img", "aria-label": "Microphone level" },
    meter,
  );
  const heard = h("p", { class: "status", role: "status" }, "");
  const area = h("div", { class: "preview-area", hidden: true }, video, meterBox, heard);
  const problem = h("div", {});

  const continueButtons = actions(
    button("Yes, I can see myself. Continue", () => {
      stopPreview();
      state!.mode = "video";
      report("preview", "done", "camera and microphone");
      go("check");
    }),
  );
  continueButtons.hidden = true;

  const start = busyButton("Turn on camera and microphone", async () => {
    problem.replaceChildren();
    try {
      preview = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 360 } },
        audio: true,
      });
    } catch (err) {
      const name = err instanceof DOMException ? err.name : "error";
      report("preview", "failed", name === "NotAllowedError" ? "permission denied" : name);
      problem.replaceChildren(
        errorBox(
          name === "NotAllowedError"
            ? "Your phone did not let this page use the camera or microphone."
            : "We could not start the camera or microphone.",
        ),
        ...para(
          "To allow it, tap the camera or lock icon next to the web address at the top, choose Allow, then try again.",
        ),
        actions(
          button("Try again", () => start.click()),
          busyButton("Continue with voice only", async () => voiceOnly(), "secondary"),
          inPersonButton(),
        ),
      );
      return;
    }
    video.srcObject = preview;
    area.hidden = false;
    start.hidden = true;
    continueButtons.hidden = false;
    watchLevel(preview, meter, heard);
    continueButtons.querySelector("button")?.focus();
  });

  show(
    main,
    stepLabel(4),
    h("h1", {}, "Check your camera and microphone"),
    ...para(
      "Your phone will ask if this page can use your camera and microphone. Please choose Allow.",
      "Nothing is recorded or sent yet.",
    ),
    actions(start),
    area,
    continueButtons,
    problem,
  );
}

async function voiceOnly(): Promise<void> {
  try {
    preview = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch {
    throw new ApiError(0, "media", "We could not use the microphone either. Please ask for a visit.", null);
  }
  stopPreview();
  state!.mode = "audio_only";
  report("preview", "done", "microphone only");
  go("check");
}

function watchLevel(stream: MediaStream, fill: HTMLElement, heard: HTMLElement): void {
  const AudioCtx = window.AudioContext;
  if (!AudioCtx || stream.getAudioTracks().length === 0) return;
  const ctx = new AudioCtx();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  ctx.createMediaStreamSource(stream).connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  const tick = (): void => {
    if (!preview) {
      void ctx.close();
      return;
    }
    analyser.getByteTimeDomainData(data);
    let peak = 0;
    for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
    const level = Math.min(1, peak / 64);
    fill.style.transform = `scaleX(${level.toFixed(2)})`;
    if (level > 0.1 && !heard.textContent) heard.textContent = "We can hear you.";
    requestAnimationFrame(tick);
  };
  tick();
}

const VERDICT_TEXT: Record<CheckOutcome["klass"], string> = {
  hd: "Your connection is good for a video call.",
  sd: "Your connection is good for a video call.",
  audio_only:
    "Your connection is not strong enough for video right now, but it is good enough for a voice call.",
  insufficient: "Your connection is not strong enough for a call right now.",
};

function renderCheck(): void {
  const bar = h("progress", { max: "100", value: "0", "aria-label": "Connection check progress" });
  const status = h("p", { role: "status", class: "status" }, "");
  // A live region from the start, so the verdict put into it later is read out.
  const result = h("div", { "aria-live": "polite" });
  const startButton = busyButton("Start the check", async () => {
    report("check", "started");
    result.replaceChildren();
    startButton.hidden = true;
    bar.hidden = false;
    status.textContent = "Checking… please keep this page open.";
    let outcome: CheckOutcome;
    try {
      outcome = await checkConnection(state!.session, (fraction) => {
        bar.value = Math.round(fraction * 100);
      });
    } catch (err) {
      startButton.hidden = false;
      bar.hidden = true;
      status.textContent = "";
      report("check", "failed", err instanceof Error ? err.message.slice(0, 200) : "error");
      throw err;
    }
    bar.value = 100;
    state!.verdict = outcome.klass;
    save(state!);
    status.textContent = "";
    showVerdict(outcome, result, startButton);
  });
  bar.hidden = true;
  show(
    main,
    stepLabel(5),
    h("h1", {}, "Check your connection"),
    ...para(
      "We check that your internet connection can carry the call. It takes about 8 seconds and uses a small amount of data, less than 3 MB.",
      "If you can, connect to WiFi first.",
    ),
    actions(startButton),
    bar,
    status,
    result,
  );
}

function showVerdict(outcome: CheckOutcome, result: HTMLElement, again: HTMLButtonElement): void {
  const video = outcome.klass === "hd" || outcome.klass === "sd";
  const retry = button("Check again", () => again.click(), "secondary");
  if (video) {
    report("check", "done", outcome.klass);
    result.replaceChildren(
      h("div", { class: "notice notice--ok" }, VERDICT_TEXT[outcome.klass]),
      actions(
        button("Continue", () => {
          state!.mode = state!.mode === "audio_only" ? "audio_only" : "video";
          go("join");
        }),
      ),
    );
  } else if (outcome.klass === "audio_only") {
    report("check", "done", outcome.klass);
    result.replaceChildren(
      h("div", { class: "notice notice--warn" }, VERDICT_TEXT.audio_only),
      actions(
        button("Have a voice call", () => {
          state!.mode = "audio_only";
          go("join");
        }),
        retry,
        inPersonButton(),
      ),
    );
  } else {
    report("check", "failed", outcome.klass);
    result.replaceChildren(
      h("div", { class: "notice notice--warn" }, VERDICT_TEXT.insufficient),
      h("p", {}, "If you can, move closer to your WiFi router or connect to WiFi, then check again."),
      actions(retry, inPersonButton()),
    );
  }
  result.querySelector("button")?.focus();
}

function renderJoin(): void {
  const mode: Mode = state!.mode;
  const status = h("p", { role: "status", class: "status" }, "");
  const join = busyButton(mode === "video" ? "Join the video call" : "Join the voice call", () =>
    joinWhenOpen(mode, status, join),
  );
  show(
    main,
    stepLabel(6),
    h("h1", {}, "Ready to join"),
    ...para(
      `The police officer (collar number ${state!.officerCollar}) will talk to you.`,
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
      const issued = await requestToken(state!.session, mode);
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
        state!.mode = "audio_only";
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

// ---------------------------------------------------------------- in the call

async function startCall(
  url: string,
  token: string,
  caps: import("./call").PublishCaps | null,
): Promise<void> {
  const officerBox = h(
    "div",
    { class: "officer-video" },
    h("p", { class: "officer-video__waiting" }, "Waiting for the officer’s video…"),
  );
  const selfBox = h("div", { class: "self-video" });
  const banner = h(
    "p",
    { class: "recording", role: "status", hidden: true },
    h("span", { class: "recording__dot", "aria-hidden": "true" }),
    "Recording is on",
  );
  const qualityNote = h("p", { class: "status", role: "status" }, "");
  const hooks: CallHooks = {
    onRecording(on) {
      banner.hidden = !on;
    },
    onQualityDecision(decision: Decision) {
      qualityNote.textContent =
        decision.layer === "off"
          ? "Your connection is weak, so your video is paused. The officer can still hear you."
          : decision.action === "lower_video"
            ? "Your connection is weak, so we have lowered the video quality."
            : decision.action === "video_resumed"
              ? "Your connection is better. Your video is back on."
              : "";
      void api("/api/v1/participant/quality", {
        quality: decision.quality === "unknown" ? "poor" : decision.quality,
        action: decision.action,
        video_layer: decision.layer,
      }).catch(() => undefined);
    },
    onOfficerVideo(el) {
      if (el) {
        el.setAttribute("aria-label", "The officer");
        officerBox.replaceChildren(el);
      }
    },
    onEnded(reason: EndReason) {
      activeCall = null;
      if (reason === "left") report("left", "done");
      endedReason = reason;
      go("ended");
    },
  };
  const callObj = new VictimCall(caps, hooks);
  activeCall = callObj;
  await callObj.start(url, token);
  report("join", "done", caps ? "video" : "voice");
  const local = callObj.localVideo;
  if (local) {
    const el = local.attach();
    el.muted = true;
    el.setAttribute("aria-label", "Your camera");
    selfBox.replaceChildren(el);
  }
  let cameraOn = true;
  let micOn = true;
  const cameraButton = button(
    "Turn my camera off",
    () => {
      cameraOn = !cameraOn;
      void callObj.setCamera(cameraOn);
      cameraButton.textContent = cameraOn ? "Turn my camera off" : "Turn my camera on";
      cameraButton.setAttribute("aria-pressed", String(!cameraOn));
    },
    "secondary",
    { "aria-pressed": "false" },
  );
  const micButton = button(
    "Mute my microphone",
    () => {
      micOn = !micOn;
      void callObj.setMicrophone(micOn);
      micButton.textContent = micOn ? "Mute my microphone" : "Unmute my microphone";
      micButton.setAttribute("aria-pressed", String(!micOn));
    },
    "secondary",
    { "aria-pressed": "false" },
  );
  show(
    main,
    h("h1", { class: "visually-hidden" }, "You are on a call with the police"),
    banner,
    h("p", { class: "call-caption" }, `You are talking to police officer ${state!.officerCollar}.`),
    officerBox,
    local ? selfBox : null,
    qualityNote,
    actions(
      local ? cameraButton : null,
      micButton,
      button("Leave the call", () => void callObj.leave(), "warning"),
    ),
  );
  main.classList.add("screen--call");
}

let endedReason: EndReason = "left";

function renderEnded(): void {
  main.classList.remove("screen--call");
  const dropped = endedReason === "dropped";
  show(
    main,
    h(
      "h1",
      {},
      endedReason === "officer_ended"
        ? "The officer has ended the call"
        : dropped
          ? "The call has stopped"
          : "You have left the call",
    ),
    ...para(
      dropped
        ? "The internet connection may have dropped. You can join again."
        : "Thank you for talking to us. The officer will be in touch about what happens next.",
    ),
    dropped || endedReason === "left"
      ? actions(button("Join the call again", () => go("join")))
      : null,
    h("p", {}, "If you need the police urgently, call 999. For anything else, call 101."),
  );
}

function renderInPerson(): void {
  show(
    main,
    h("h1", {}, "An officer will visit you"),
    ...para(
      "Thank you. We have told the officer that you would like a visit.",
      "They will contact you to arrange a time. You can close this page now.",
    ),
    emergency(),
  );
}

// ---------------------------------------------------------------- start

wireQuickExit();
void open();
