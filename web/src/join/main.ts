// The victim's join page: one screen at a time, in plain words, with the victim choosing at
// every step. The join code is spent once; the session it gives is kept on the phone (state.ts)
// so a reload, or the link opened again, does not burn the single-use link.
//
// Each screen is a module in screens/; page.ts holds what they share. This file only wires
// them together, sets the language (web/src/i18n) and starts the page.

import "../styles/join.css";

import { initLocale, onLocaleChange, t } from "../i18n";
import { force } from "./force";
import { loadRtc } from "./lazy";
import { open, rerenderProblem } from "./open";
import { page, registerScreens, render } from "./page";
import { wireQuickExit } from "./quick-exit";
import { renderCheck } from "./screens/check";
import { renderChoose } from "./screens/choose";
import { renderConsent } from "./screens/consent";
import { renderEligibility } from "./screens/eligibility";
import { renderEnded } from "./screens/ended";
import { renderInPerson } from "./screens/in-person";
import { renderInterpreter } from "./screens/interpreter";
import { renderJoin } from "./screens/join";
import { renderNotNow } from "./screens/not-now";
import { renderPreview } from "./screens/preview";

registerScreens({
  choose: renderChoose,
  eligibility: renderEligibility,
  "not-now": renderNotNow,
  consent: renderConsent,
  preview: renderPreview,
  check: renderCheck,
  join: renderJoin,
  "in-person": renderInPerson,
  interpreter: renderInterpreter,
  ended: renderEnded,
});

/** The parts of the page outside the screens: the bar, the quick exit and its hint. */
function renderChrome(): void {
  const title = document.querySelector<HTMLElement>(".topbar__title");
  if (title) title.textContent = t("topbar.title", { force: force.name });
  const exit = document.getElementById("quick-exit");
  if (exit) exit.textContent = t("exit.link");
  const hint = document.querySelector<HTMLElement>(".quick-exit-hint");
  if (hint) hint.textContent = t("exit.hint");
}

onLocaleChange(() => {
  renderChrome();
  // The call itself is not re-drawn (that would leave it); every other screen is.
  if (page.activeCall) return;
  if (page.state) render();
  else rerenderProblem();
});
initLocale();
wireQuickExit();
// The first screen is drawn without livekit-client; fetch it while the victim reads.
void open().finally(() => void loadRtc().catch(() => undefined));
