// Screen "ended": the call is over, who ended it, and joining again where that makes sense.

import { button, h, show } from "../../common/dom";
import { t } from "../../i18n";
import { nextSteps } from "../force";
import { statementPanel } from "./statement";
import { uploadPanel } from "./upload";
import { go, main, page } from "../page";
import { actions, para } from "../ui";

export function renderEnded(): void {
  const endedReason = page.endedReason;
  const dropped = endedReason === "dropped";
  show(
    main,
    h(
      "h1",
      {},
      endedReason === "officer_ended"
        ? t("ended.officer")
        : dropped
          ? t("ended.stopped")
          : t("ended.left"),
    ),
    ...para(dropped ? t("ended.dropped") : t("ended.thanks")),
    dropped || endedReason === "left" ? actions(button(t("ended.again"), () => go("join"))) : null,
    nextSteps(page.state?.crimeReference),
    statementPanel(),
    uploadPanel(),
  );
}
