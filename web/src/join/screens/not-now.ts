// Screen "not-now": an eligibility answer means not now. The victim can come back when it is
// safe, or ask for a visit.

import { button, h, show } from "../../common/dom";
import { go, main, page } from "../page";
import { actions, emergency, para } from "../ui";
import { inPersonButton } from "./in-person";

export function renderNotNow(): void {
  const reason = page.state!.notNowReason;
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
