// Screen "not-now": an eligibility answer means not now. The victim can come back when it is
// safe, or ask for a visit.

import { button, h, show } from "../../common/dom";
import { t } from "../../i18n";
import { go, main, page } from "../page";
import { actions, emergency, para } from "../ui";
import { inPersonButton } from "./in-person";

export function renderNotNow(): void {
  const reason = page.state!.notNowReason;
  const text =
    reason === "under_18"
      ? [t("notNow.guardian1"), t("notNow.guardian2")]
      : [t("notNow.safe1"), t("notNow.safe2")];
  show(
    main,
    h("h1", {}, t("notNow.title")),
    ...para(...text),
    h("p", {}, t("notNow.newLink")),
    emergency(),
    actions(
      button(
        t("notNow.back"),
        () => {
          page.state!.question = 0;
          go("eligibility");
        },
        "secondary",
      ),
      inPersonButton(),
    ),
  );
}
