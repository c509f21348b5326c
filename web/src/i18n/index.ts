// Languages of the victim's page: English, Welsh, Polish, Romanian and Urdu (right to left).
//
// HOW TO ADD A STRING (for everyone adding screens to web/src/join/):
//   1. Add the key and its English text to catalogues/en.json. Keys are "area.name", e.g.
//      "statement.sign.title". The text is an ICU message: placeholders are {name}, plurals
//      are {count, plural, one {# minute} other {# minutes}}; never build a sentence by
//      concatenating pieces, since word order differs between languages.
//   2. Add the same key to cy.json, pl.json, ro.json and ur.json. tests/web/test_i18n.py fails
//      when any catalogue lacks a key, has one en.json does not, or uses other placeholders.
//   3. In the page: import { t } from "../i18n" (adjust the path) and call
//      t("statement.sign.title") or t("join.officer", { officer: "PC Smith" }). The key is
//      type-checked against en.json.
//   4. Render on every language change: screens are re-rendered by the join page when the
//      victim picks another language (onLocaleChange), so read t() inside render functions,
//      not at module load.
//   5. Server errors the victim sees: give the error code a key "error.<code>" (see
//      serverMessage below) rather than showing the server's English message.
//
// The chosen language is kept in localStorage ("evr.lang"), defaulting from the browser's
// languages; <html lang> and <html dir> follow it, so Urdu lays out right to left.

import { IntlMessageFormat } from "intl-messageformat";

import cy from "./catalogues/cy.json";
import en from "./catalogues/en.json";
import pl from "./catalogues/pl.json";
import ro from "./catalogues/ro.json";
import ur from "./catalogues/ur.json";

export type MessageKey = keyof typeof en;
export type Catalogue = Record<MessageKey, string>;
export type Locale = "en" | "cy" | "pl" | "ro" | "ur";

export interface LocaleInfo {
  code: Locale;
  /** The language's name in itself, as a person who reads it would look for it. */
  name: string;
  /** The BCP 47 tag for <html lang>. */
  tag: string;
  dir: "ltr" | "rtl";
}

export const LOCALES: readonly LocaleInfo[] = [
  { code: "en", name: "English", tag: "en-GB", dir: "ltr" },
  { code: "cy", name: "Cymraeg", tag: "cy", dir: "ltr" },
  { code: "pl", name: "Polski", tag: "pl", dir: "ltr" },
  { code: "ro", name: "Română", tag: "ro", dir: "ltr" },
  { code: "ur", name: "اردو", tag: "ur", dir: "rtl" },
];

const CATALOGUES: Record<Locale, Catalogue> = { en, cy, pl, ro, ur };
const STORE_KEY = "evr.lang";

let current: Locale = "en";
const cache = new Map<string, IntlMessageFormat>();
const listeners: (() => void)[] = [];

function isLocale(value: string | null | undefined): value is Locale {
  return LOCALES.some((l) => l.code === value);
}

/** The first of the browser's languages we have, else English. */
export function detectLocale(languages: readonly string[]): Locale {
  for (const lang of languages) {
    const base = lang.toLowerCase().split("-")[0];
    if (isLocale(base)) return base;
  }
  return "en";
}

export function locale(): LocaleInfo {
  return LOCALES.find((l) => l.code === current)!;
}

/** Set the language (and <html lang/dir>), remember it, and re-render whoever listens. */
export function setLocale(code: Locale, { remember = true } = {}): void {
  current = code;
  const info = locale();
  document.documentElement.lang = info.tag;
  document.documentElement.dir = info.dir;
  if (remember) {
    try {
      localStorage.setItem(STORE_KEY, code);
    } catch {
      // Storage blocked: the choice lasts until the page is closed.
    }
  }
  listeners.forEach((fn) => fn());
}

/** At start-up: the remembered choice, else the browser's language. */
export function initLocale(): void {
  let stored: string | null = null;
  try {
    stored = localStorage.getItem(STORE_KEY);
  } catch {
    stored = null;
  }
  setLocale(isLocale(stored) ? stored : detectLocale(navigator.languages ?? [navigator.language]), {
    remember: false,
  });
}

export function onLocaleChange(fn: () => void): void {
  listeners.push(fn);
}

/** The message `key` in the current language, formatted with `values` (ICU MessageFormat). */
export function t(key: MessageKey, values?: Record<string, string | number>): string {
  const id = `${current}:${key}`;
  let format = cache.get(id);
  if (!format) {
    format = new IntlMessageFormat(CATALOGUES[current][key] ?? en[key], locale().tag);
    cache.set(id, format);
  }
  return String(format.format(values));
}

/** A server error as the victim should read it: by its code, in their language. */
export function serverMessage(code: string, status: number): string {
  const key = `error.${code}` as MessageKey;
  if (key in en) return t(key);
  return status === 0 ? t("error.network") : t("error.generic");
}
