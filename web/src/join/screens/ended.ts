// Screen "ended": the call is over, who ended it, and joining again where that makes sense.

import { button, h, show } from "../../common/dom";
import { nextSteps } from "../force";
import { statementPanel } from "./statement";
import { uploadPanel } from "./upload";
import { go, main, page } from "../page";
import { actions, para } from "../ui";

export function renderEnded(): void {
  main.classList.remove("screen--call");
  const endedReason = page.endedReason;
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
    nextSteps(page.state?.crimeReference),
    statementPanel(),
    uploadPanel(),
  );
}
