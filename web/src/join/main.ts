// The victim's join page: one screen at a time, in plain words, with the victim choosing at
// every step. The join code is spent once; the session it gives is kept in sessionStorage so a
// reload does not burn the single-use link.
//
// Each screen is a module in screens/; page.ts holds what they share. This file only wires
// them together and starts the page.

import "../styles/join.css";

import { open } from "./open";
import { registerScreens } from "./page";
import { wireQuickExit } from "./quick-exit";
import { renderCheck } from "./screens/check";
import { renderChoose } from "./screens/choose";
import { renderConsent } from "./screens/consent";
import { renderEligibility } from "./screens/eligibility";
import { renderEnded } from "./screens/ended";
import { renderInPerson } from "./screens/in-person";
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
  ended: renderEnded,
});

wireQuickExit();
void open();
