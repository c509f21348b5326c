// Screen "eligibility" (step 2): three yes-or-no questions that keep the victim safe, one
// question per page (GOV.UK pattern), with an error summary when one is not answered. A "no"
// leads to "not-now", never to a dead end.

import { h, show } from "../../common/dom";
import { type MessageKey, t } from "../../i18n";
import { answer, go, main, outbox, page, report, setTitle } from "../page";
import type { SelfDeclaration } from "../../api/types";
import type { Answer } from "../outbox";
import { actions, errorBox, errorSummary, errorText, stepLabel } from "../ui";

interface Question {
  name: "adult" | "offender_away" | "safe";
  title: MessageKey;
  hint: MessageKey;
  error: MessageKey;
}

const QUESTIONS: readonly Question[] = [
  { name: "adult", title: "question.adult.title", hint: "question.adult.hint", error: "question.adult.error" },
  {
    name: "offender_away",
    title: "question.offender.title",
    hint: "question.offender.hint",
    error: "question.offender.error",
  },
  { name: "safe", title: "question.safe.title", hint: "question.safe.hint", error: "question.safe.error" },
];

async function hasCamera(): Promise<boolean> {
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    return devices.some((d) => d.kind === "videoinput");
  } catch {
    return false;
  }
}

function radio(name: string, value: "yes" | "no", label: string, checked: boolean): HTMLElement {
  const id = `${name}-${value}`;
  return h(
    "div",
    { class: "choice" },
    h("input", { type: "radio", name, value, id, checked }),
    h("label", { for: id }, label),
  );
}

export function renderEligibility(): void {
  const state = page.state!;
  const index = Math.min(Math.max(state.question ?? 0, 0), QUESTIONS.length - 1);
  if (index === 0) report("eligibility", "started");
  const q = QUESTIONS[index];
  const previous = state.answers?.[q.name];
  const hintId = `${q.name}-hint`;
  const errorId = `${q.name}-error`;
  const fieldset = h(
    "fieldset",
    { class: "question", "aria-describedby": hintId },
    // GOV.UK: when a page asks one question, its legend is the page's heading.
    h("legend", { class: "question__legend" }, h("h1", {}, t(q.title))),
    h("p", { class: "hint", id: hintId }, t(q.hint)),
    h(
      "p",
      { class: "field-error", id: errorId, hidden: true },
      h("span", { class: "visually-hidden" }, `${t("common.errorPrefix")} `),
      t(q.error),
    ),
    h(
      "div",
      { class: "choices" },
      radio(q.name, "yes", t("common.yes"), previous === true),
      radio(q.name, "no", t("common.no"), previous === false),
    ),
  );
  const form = h(
    "form",
    { novalidate: true },
    fieldset,
    actions(h("button", { type: "submit", class: "button button--primary" }, t("common.continue"))),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const picked = form.querySelector<HTMLInputElement>(`input[name="${q.name}"]:checked`);
    main.querySelector(".error-summary")?.remove();
    const error = form.querySelector<HTMLElement>(`#${errorId}`)!;
    if (!picked) {
      error.hidden = false;
      fieldset.classList.add("question--error");
      fieldset.setAttribute("aria-describedby", `${errorId} ${hintId}`);
      const summary = errorSummary([{ field: `${q.name}-yes`, message: t(q.error) }]);
      main.prepend(summary);
      setTitle();
      summary.focus();
      return;
    }
    state.answers = { ...state.answers, [q.name]: picked.value === "yes" };
    if (index < QUESTIONS.length - 1) {
      state.question = index + 1;
      go("eligibility");
      return;
    }
    void submit(form);
  });
  show(
    main,
    stepLabel(2),
    h("p", { class: "caption" }, t("question.count", { n: index + 1 })),
    form,
  );
}

async function submit(form: HTMLFormElement): Promise<void> {
  const state = page.state!;
  const answers = state.answers ?? {};
  const submitButton = form.querySelector<HTMLButtonElement>("button[type=submit]")!;
  submitButton.disabled = true;
  const declaration: Answer = {
    path: "/api/v1/participant/eligibility",
    body: {
      adult_or_guardian: answers.adult,
      offender_not_present: answers.offender_away,
      smartphone_with_video: await hasCamera(),
      safe_to_talk: answers.safe,
    } satisfies SelfDeclaration,
    from: "eligibility",
    question: QUESTIONS.length - 1,
  };
  if (answers.adult && answers.offender_away && answers.safe) {
    // All yes: recorded in the background, consent shows at once (a refusal comes back here).
    state.question = 0;
    void answer(declaration, "eligibility").catch(() => undefined);
    go("consent");
    return;
  }
  // A "no" stops the journey: as before, the victim moves on only once it is recorded (the
  // server raises the safeguarding alert with it).
  try {
    await outbox.send(declaration);
  } catch (err) {
    submitButton.disabled = false;
    form.before(errorBox(errorText(err)));
    return;
  }
  state.question = 0;
  state.notNowReason = !answers.adult
    ? "under_18"
    : !answers.offender_away
      ? "offender_present"
      : "not_safe";
  report("eligibility", "declined", state.notNowReason);
  go("not-now");
}
