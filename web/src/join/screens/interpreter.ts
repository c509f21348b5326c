// Screen "interpreter": the victim asks for an interpreter and says which language. The
// officer sees the request on the visit and can send the interpreter a link of their own.

import { h, show } from "../../common/dom";
import { t } from "../../i18n";
import { api, go, main, page, setTitle } from "../page";
import { save } from "../state";
import { actions, errorBox, errorSummary, errorText } from "../ui";

export function renderInterpreter(): void {
  const state = page.state!;
  if (state.interpreterLanguage) {
    show(
      main,
      h("h1", {}, t("interpreter.title")),
      h(
        "div",
        { class: "notice notice--ok", role: "status" },
        t("interpreter.sent", { language: state.interpreterLanguage }),
      ),
      actions(h("button", { type: "button", class: "button button--primary", id: "interpreter-done" }, t("interpreter.done"))),
    );
    main.querySelector("#interpreter-done")?.addEventListener("click", () => go("choose"));
    return;
  }
  const input = h("input", {
    id: "language",
    name: "language",
    type: "text",
    autocomplete: "off",
    maxlength: "60",
    "aria-describedby": "language-hint",
    class: "input",
  });
  const error = h(
    "p",
    { class: "field-error", id: "language-error", hidden: true },
    h("span", { class: "visually-hidden" }, `${t("common.errorPrefix")} `),
    t("interpreter.error"),
  );
  const group = h(
    "div",
    { class: "field" },
    h("label", { for: "language", class: "label" }, t("interpreter.question")),
    h("p", { class: "hint", id: "language-hint" }, t("interpreter.hint")),
    error,
    input,
  );
  const form = h(
    "form",
    { novalidate: true },
    group,
    actions(h("button", { type: "submit", class: "button button--primary" }, t("interpreter.send"))),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    main.querySelector(".error-summary")?.remove();
    main.querySelector(".notice--error")?.remove();
    const language = input.value.trim();
    if (!language) {
      error.hidden = false;
      group.classList.add("field--error");
      input.setAttribute("aria-describedby", "language-error language-hint");
      const summary = errorSummary([{ field: "language", message: t("interpreter.error") }]);
      main.prepend(summary);
      setTitle();
      summary.focus();
      return;
    }
    void api("/api/v1/participant/interpreter", { language })
      .then(() => {
        state.interpreterLanguage = language;
        save(state);
        go("interpreter");
      })
      .catch((err: unknown) => form.before(errorBox(errorText(err))));
  });
  show(main, h("h1", {}, t("interpreter.title")), form);
}
