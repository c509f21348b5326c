// Loads the livekit-client chunk (rtc.ts) once. main.ts starts it in the background as soon
// as the first screen is drawn, so by the check or the join tap it is usually already there.

type Rtc = typeof import("./rtc");

let loading: Promise<Rtc> | null = null;

export function loadRtc(): Promise<Rtc> {
  if (!loading) {
    loading = import("./rtc");
    // A failed fetch (a flaky phone link) is not cached: the next screen that needs it retries.
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}
