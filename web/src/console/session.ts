// The officer's bearer token (a local API token or an OIDC access token), kept in
// sessionStorage only, and the API called with it.

import { call } from "../common/api";

const TOKEN_KEY = "evr.console.token";

/** The token in use; null when signed out. */
export const session: { token: string | null } = { token: sessionStorage.getItem(TOKEN_KEY) };

export function saveToken(): void {
  if (session.token) sessionStorage.setItem(TOKEN_KEY, session.token);
}

export function forgetToken(): void {
  session.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
}

export function api<T>(path: string, body?: unknown, method?: "GET" | "POST" | "PUT"): Promise<T> {
  return call<T>(path, { bearer: session.token, body, method });
}
