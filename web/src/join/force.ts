// Who the victim is dealing with, and what to do when something does not work: the force's
// name and non-emergency number come from the server's config (meta tags filled in by
// control_plane/pages.py), the officer and crime reference from the visit. None is hard-coded.

import { h } from "../common/dom";
import { t } from "../i18n";

function meta(name: string): string {
  return document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content.trim() ?? "";
}

export const force = {
  name: meta("evr-force"),
  nonEmergency: meta("evr-non-emergency"),
};

/** "What to do next" for every error and ending: 999 in an emergency, otherwise the force's
 *  non-emergency number with the crime reference (or where to find it). */
export function nextSteps(crimeReference?: string | null): HTMLElement {
  const values = {
    force: force.name || t("next.thePolice"),
    number: force.nonEmergency,
    reference: crimeReference ?? "",
  };
  return h(
    "div",
    { class: "notice next-steps", "data-testid": "next-steps" },
    h("p", {}, h("strong", {}, t("next.danger"))),
    h("p", {}, crimeReference ? t("next.withReference", values) : t("next.withoutReference", values)),
  );
}
