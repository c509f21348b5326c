// Screen "choose" (step 1): a video call on this phone, or an officer's visit.

import type { RecordChoice } from "../../api/types";
import { h, show } from "../../common/dom";
import { api, go, main, page, report } from "../page";
import { actions, busyButton, para, stepLabel, trustCard } from "../ui";
import { inPersonButton } from "./in-person";

export function renderChoose(): void {
  report("choice", "started");
  show(
    main,
    stepLabel(1),
    h("h1", {}, "How would you like to talk to the police?"),
    trustCard(page.state!),
    ...para(
      "The officer would like to talk to you about what happened.",
      "You can have a video call on this phone, or an officer can come to see you. Both are fine. You choose.",
    ),
    actions(
      busyButton("Video call on this phone", async () => {
        await api("/api/v1/participant/choice", { choice: "video" } satisfies RecordChoice);
        report("choice", "done", "video");
        go("eligibility");
      }),
      inPersonButton(),
    ),
  );
}
