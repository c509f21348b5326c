// Screen "consent" (step 3): what the call is, that recording is switched on before a
// statement, and the victim's yes or no.

import type { GiveConsent } from "../../api/types";
import { h, show } from "../../common/dom";
import { t } from "../../i18n";
import { answer, go, main, outbox, report } from "../page";
import { actions, busyButton, stepLabel } from "../ui";
import { chooseInPerson } from "./in-person";

const NOTICE_VERSION = "2026-01";

export function renderConsent(): void {
  report("consent", "started");
  show(
    main,
    stepLabel(3),
    h("h1", {}, t("consent.title")),
    h(
      "ul",
      { class: "plain-list" },
      h("li", {}, t("consent.between")),
      h("li", {}, h("strong", {}, t("consent.recording")), " ", t("consent.banner")),
      h("li", {}, t("consent.kept")),
      h("li", {}, t("consent.stop")),
    ),
    h("p", {}, t("consent.question")),
    actions(
      busyButton(t("consent.yes"), async () => {
        // Recorded in the background (before the check, which waits for it): the camera
        // screen shows at once. Nothing is sent from the phone's camera before the call.
        const body: GiveConsent = { consented: true, notice_version: NOTICE_VERSION };
        void answer({ path: "/api/v1/participant/consent", body, from: "consent" }, "consent").catch(
          () => undefined,
        );
        go("preview");
      }),
      busyButton(
        t("consent.no"),
        async () => {
          const body: GiveConsent = { consented: false, notice_version: NOTICE_VERSION };
          await outbox.send({ path: "/api/v1/participant/consent", body, from: "consent" });
          report("consent", "declined");
          await chooseInPerson();
        },
        "secondary",
      ),
    ),
  );
}
