// Screen "eligibility" (step 2): three yes-or-no questions that keep the victim safe. A "no"
// leads to "not-now", never to a dead end.

import { ApiError } from "../../common/api";
import { h, show } from "../../common/dom";
import { api, go, main, page, report } from "../page";
import { actions, errorBox, stepLabel } from "../ui";

function yesNo(name: string, question: string, hint: string): HTMLFieldSetElement {
  const hintId = `${name}-hint`;
  const errorId = `${name}-error`;
  return h(
    "fieldset",
    { class: "question", "aria-describedby": hintId },
    h("legend", {}, question),
    h("p", { class: "hint", id: hintId }, hint),
    h("p", { class: "field-error", id: errorId, hidden: true }, "Please choose Yes or No."),
    h(
      "div",
      { class: "choices" },
      h(
        "label",
        { class: "choice" },
        h("input", { type: "radio", name, value: "yes" }),
        h("span", {}, "Yes"),
      ),
      h(
        "label",
        { class: "choice" },
        h("input", { type: "radio", name, value: "no" }),
        h("span", {}, "No"),
      ),
    ),
  );
}

async function hasCamera(): Promise<boolean> {
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    return devices.some((d) => d.kind === "videoinput");
  } catch {
    return false;
  }
}

export function renderEligibility(): void {
  report("eligibility", "started");
  const form = h(
    "form",
    { novalidate: true },
    yesNo(
      "adult",
      "Are you 18 or over?",
      "If you are under 18, choose Yes only if a parent or guardian is with you now.",
    ),
    yesNo(
      "offender_away",
      "Is the person you are reporting away from you now?",
      "They should not be with you, or able to hear you, during the call.",
    ),
    yesNo("safe", "Is it safe for you to talk now?", "You can stop the call at any time."),
    actions(h("button", { type: "submit", class: "button button--primary" }, "Continue")),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const answers: Record<string, boolean | undefined> = {};
    let firstMissing: HTMLInputElement | null = null;
    for (const name of ["adult", "offender_away", "safe"]) {
      const picked = form.querySelector<HTMLInputElement>(`input[name="${name}"]:checked`);
      const error = form.querySelector<HTMLElement>(`#${name}-error`)!;
      const fieldset = error.closest("fieldset")!;
      error.hidden = picked !== null;
      fieldset.classList.toggle("question--error", picked === null);
      fieldset.setAttribute(
        "aria-describedby",
        picked === null ? `${name}-error ${name}-hint` : `${name}-hint`,
      );
      if (!picked) firstMissing ??= form.querySelector(`input[name="${name}"]`);
      answers[name] = picked ? picked.value === "yes" : undefined;
    }
    if (firstMissing) {
      (firstMissing as HTMLInputElement).focus();
      return;
    }
    const submit = form.querySelector<HTMLButtonElement>("button[type=submit]")!;
    submit.disabled = true;
    void (async () => {
      try {
        await api("/api/v1/participant/eligibility", {
          adult_or_guardian: answers.adult,
          offender_not_present: answers.offender_away,
          smartphone_with_video: await hasCamera(),
          safe_to_talk: answers.safe,
        });
      } catch (err) {
        submit.disabled = false;
        form.before(errorBox(err instanceof ApiError ? err.message : "Please try again."));
        return;
      }
      const ok = answers.adult && answers.offender_away && answers.safe;
      if (ok) {
        report("eligibility", "done");
        go("consent");
        return;
      }
      page.state!.notNowReason = !answers.adult
        ? "under_18"
        : !answers.offender_away
          ? "offender_present"
          : "not_safe";
      report("eligibility", "declined", page.state!.notNowReason);
      go("not-now");
    })();
  });
  show(
    main,
    stepLabel(2),
    h("h1", {}, "Three quick questions"),
    h("p", {}, "These help us keep you safe during the call."),
    form,
  );
}
