// Screen "in-person": the victim asked for an officer to visit. Most screens offer the way
// here, so the button that leads to it lives here too.

import type { RecordChoice } from "../../api/types";
import { h, show } from "../../common/dom";
import { t } from "../../i18n";
import { nextSteps } from "../force";
import { go, main, outbox, page, report, stopPreview } from "../page";
import { busyButton, emergency, para } from "../ui";

export async function chooseInPerson(): Promise<void> {
  // Awaited, but behind any answer still being sent, so the server sees them in order.
  const body: RecordChoice = { choice: "in_person" };
  await outbox.send({ path: "/api/v1/participant/choice", body, from: page.state!.screen });
  report("choice", "done", "in person");
  stopPreview();
  go("in-person");
}

export function inPersonButton(label?: string): HTMLButtonElement {
  return busyButton(label ?? t("inPerson.ask"), chooseInPerson, "secondary");
}

export function renderInPerson(): void {
  show(
    main,
    h("h1", {}, t("inPerson.title")),
    ...para(t("inPerson.thanks"), t("inPerson.contact")),
    emergency(),
    nextSteps(page.state?.crimeReference),
  );
}
