// Tiny DOM helpers: build elements without innerHTML, so no text from the server is ever
// parsed as markup.

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | boolean | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

export function button(
  label: string,
  onClick: (ev: MouseEvent) => void,
  variant: "primary" | "secondary" | "warning" | "quiet" = "primary",
  attrs: Attrs = {},
): HTMLButtonElement {
  const b = h("button", { type: "button", class: `button button--${variant}`, ...attrs }, label);
  b.addEventListener("click", onClick);
  return b;
}

/** Replace the content of `root` and move focus to its first heading, for screen readers. */
export function show(root: HTMLElement, ...children: Child[]): void {
  root.replaceChildren(...children.filter((c): c is Node | string => Boolean(c)));
  const heading = root.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
  }
  window.scrollTo({ top: 0 });
}
