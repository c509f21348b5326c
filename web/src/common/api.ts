// A small JSON client for the control plane. Errors carry the server's own message, which is
// written to be read by the person using the page.

import type { ApiErrorBody } from "../api/types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface CallOptions {
  method?: "GET" | "POST" | "PUT";
  bearer?: string | null;
  body?: unknown;
  /** Let the request outlive the page (quick exit, leaving). */
  keepalive?: boolean;
}

export async function call<T>(path: string, options: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.bearer) headers.Authorization = `Bearer ${options.bearer}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? (body === undefined ? "GET" : "POST"),
      headers,
      body,
      keepalive: options.keepalive ?? false,
      credentials: "omit",
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, "network", "The internet connection dropped. Please try again.", err);
  }
  const text = await response.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    // Any answer may be something else (a proxy's page, say): every field is optional here.
    const err = (data as { error?: Partial<ApiErrorBody["error"]> } | null)?.error;
    throw new ApiError(
      response.status,
      err?.code ?? "http_error",
      err?.message ?? `The server answered ${response.status}.`,
      err?.details ?? null,
    );
  }
  return data as T;
}
