// Everything on the join page that needs livekit-client (~580 kB), in one lazily loaded chunk:
// only lazy.ts imports this module, and only dynamically, so the first screen never waits for it.

export { checkConnection, requestToken } from "./check";
export { startCall } from "./screens/in-call";
