// Screen "choose" (step 1): who is calling, the language, and a video call on this phone or
// an officer's visit; an interpreter can be asked for from here.

import type { RecordChoice } from "../../api/types";
import { h, show } from "../../common/dom";
import { LOCALES, locale, setLocale, t } from "../../i18n";
import { answer, go, main, page, report } from "../page";
import { actions, busyButton, para, stepLabel, trustCard } from "../ui";
import { inPersonButton } from "./in-person";

/** The languages, each named in itself, on the first screen (GOV.UK language toggle). */
export function languagePicker(): HTMLElement {
  const current = locale().code;
  return h(
    "nav",
    { class: "languages", "aria-label": t("language.label"), "data-testid": "languages" },
    h(
      "ul",
      {},
      ...LOCALES.map((l) => {
        if (l.code === current)
          return h("li", {}, h("span", { class: "languages__current", lang: l.tag, "aria-current": "true" }, l.name));
        const b = h("button", { type: "button", class: "languages__button", lang: l.tag, "data-locale": l.code }, l.name);
        b.addEventListener("click", () => setLocale(l.code));
        return h("li", {}, b);
      }),
    ),
  );
}

export function renderChoose(): void {
  report("choice", "started");
  const interpreter = h("a", { href: "#", class: "link" }, t("interpreter.link"));
  interpreter.addEventListener("click", (ev) => {
    ev.preventDefault();
    go("interpreter");
  });
  show(
    main,
    languagePicker(),
    stepLabel(1),
    h("h1", {}, t("choose.title")),
    trustCard(page.state!),
    ...para(t("choose.intro"), t("choose.options")),
    actions(
      busyButton(t("choose.video"), async () => {
        // Recorded in the background: the first question shows at once.
        const body: RecordChoice = { choice: "video" };
        void answer({ path: "/api/v1/participant/choice", body, from: "choose" }, "choice", "video").catch(
          () => undefined,
        );
        page.state!.question = 0;
        go("eligibility");
      }),
      inPersonButton(),
    ),
    h("p", {}, interpreter),
  );
}
