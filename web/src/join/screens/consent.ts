// Screen "consent" (step 3): what the call is, that recording is switched on before a
// statement, and the victim's yes or no.

import type { GiveConsent } from "../../api/types";
import { h, show } from "../../common/dom";
import { api, go, main, report } from "../page";
import { actions, busyButton, stepLabel } from "../ui";
import { chooseInPerson } from "./in-person";

const NOTICE_VERSION = "2026-01";

export function renderConsent(): void {
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
        } satisfies GiveConsent);
        report("consent", "done");
        go("preview");
      }),
      busyButton(
        "No, I do not want a video call",
        async () => {
          await api("/api/v1/participant/consent", {
            consented: false,
            notice_version: NOTICE_VERSION,
          } satisfies GiveConsent);
          report("consent", "declined");
          await chooseInPerson();
        },
        "secondary",
      ),
    ),
  );
}
