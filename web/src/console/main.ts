// The officer's console: today's visits, creating one, eligibility, the join link, the victim's
// progress through the join page, and the call itself. Signs in with an officer bearer token
// (a local API token or an OIDC access token), kept in sessionStorage only.
//
// This file signs in and lays out the home view; list.ts, visit.ts and the modules they use
// hold the rest.

import "../styles/console.css";

import type { Officer } from "../api/types";
import { ApiError } from "../common/api";
import { h } from "../common/dom";
import { listBox, loadList, pollAlerts, reloadList, renderCreate, todayUtc } from "./list";
import { api, forgetToken, saveToken, session } from "./session";
import { alertBox } from "./ui";
import { closeForSignOut, detailBox, onStatusChange } from "./visit";

const main = document.getElementById("main") as HTMLElement;
const whoami = document.getElementById("whoami") as HTMLElement;
const signOut = document.getElementById("sign-out") as HTMLButtonElement;

function renderSignIn(message?: string): void {
  whoami.textContent = "";
  signOut.hidden = true;
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    required: true,
    "aria-describedby": "token-hint",
  });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    message ? alertBox(message) : null,
    h("label", { for: "token" }, "Officer token"),
    h(
      "p",
      { id: "token-hint", class: "hint" },
      "Your local API token (evr_…) or your force sign-in (OIDC) access token. It is kept only in this browser tab.",
    ),
    input,
    h("div", { class: "row" }, h("button", { type: "submit", class: "button button--primary" }, "Sign in")),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    session.token = input.value.trim();
    void start();
  });
  main.replaceChildren(form);
  input.focus();
}

async function start(): Promise<void> {
  if (!session.token) {
    renderSignIn();
    return;
  }
  let me: Officer;
  try {
    me = await api<Officer>("/api/v1/me");
  } catch (err) {
    forgetToken();
    renderSignIn(err instanceof ApiError ? err.message : "Sign-in failed");
    return;
  }
  saveToken();
  whoami.textContent = `${me.display_name} · collar ${me.collar_number} · ${me.unit}`;
  signOut.hidden = false;
  renderHome();
}

signOut.addEventListener("click", () => {
  closeForSignOut();
  pollAlerts(false);
  forgetToken();
  renderSignIn();
});

function renderHome(): void {
  main.replaceChildren(
    h("h1", {}, "Video visits"),
    h("div", { class: "columns" }, h("div", {}, listBox, renderCreate()), detailBox),
  );
  detailBox.hidden = true;
  void loadList(todayUtc());
  pollAlerts(true);
}

// The list shows each visit's status: load it again when the open visit's status changes.
onStatusChange(() => void reloadList().catch(() => undefined));

void start();
