// The quick exit: leave at once for a harmless page, wiping what this tab remembers.

import { main, page, report, stopPreview } from "./page";
import { clearAll } from "./state";

const quickExit = document.getElementById("quick-exit") as HTMLAnchorElement;

function quickExitNow(ev?: Event): void {
  ev?.preventDefault();
  report("quick_exit", "done");
  stopPreview();
  if (page.activeCall) void page.activeCall.leave();
  clearAll();
  page.state = null;
  main.replaceChildren();
  // replace(): the back button does not return to this page.
  window.location.replace(quickExit.href);
}

export function wireQuickExit(): void {
  quickExit.addEventListener("click", quickExitNow);
  // GOV.UK's "Exit this page" pattern: pressing Shift three times also leaves.
  let presses: number[] = [];
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Shift" || ev.repeat) return;
    const now = Date.now();
    presses = [...presses.filter((t) => now - t < 1500), now];
    if (presses.length >= 3) quickExitNow(ev);
  });
}
