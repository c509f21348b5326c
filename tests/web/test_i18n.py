"""The join page's message catalogues (web/src/i18n/catalogues): every language has every key
English has and no other, the same placeholders, no empty text, and every message is valid
ICU MessageFormat as the pinned intl-messageformat formats it; the screens take their text
from the catalogues, not from string literals."""

import json
import re
import subprocess
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
CATALOGUES = WEB / "src" / "i18n" / "catalogues"
LOCALES = ("cy", "pl", "ro", "ur")
ARGUMENT = re.compile(r"\{\s*([A-Za-z_]\w*)\s*[,}]")


def _load(code: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((CATALOGUES / f"{code}.json").read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("code", LOCALES)
def test_every_language_has_every_key_and_the_same_placeholders(code: str) -> None:
    en, other = _load("en"), _load(code)
    assert sorted(set(en) - set(other)) == [], f"{code} lacks these keys"
    assert sorted(set(other) - set(en)) == [], f"{code} has keys English does not"
    for key, text in other.items():
        assert text.strip(), f"{code}:{key} is empty"
        assert set(ARGUMENT.findall(text)) == set(ARGUMENT.findall(en[key])), f"{code}:{key}"


def test_a_missing_key_is_caught() -> None:
    en = _load("en")
    broken = dict(en)
    broken.pop(next(iter(broken)))
    assert set(en) - set(broken), "the comparison above would not see a missing key"


def test_every_message_formats_with_intl_messageformat() -> None:
    """Run the real library over every message (catches ICU syntax and swallowed quotes)."""
    script = """
        import { IntlMessageFormat } from "intl-messageformat";
        import { readFileSync } from "node:fs";
        const problems = [];
        for (const code of ["en", "cy", "pl", "ro", "ur"]) {
          const cat = JSON.parse(readFileSync(`src/i18n/catalogues/${code}.json`, "utf8"));
          for (const [key, text] of Object.entries(cat)) {
            const names = [...text.matchAll(/\\{\\s*([A-Za-z_]\\w*)\\s*[,}]/g)].map(m => m[1]);
            const values = Object.fromEntries(names.map(n => [n, n === "n" ? 2 : `<${n}>`]));
            try {
              const out = String(new IntlMessageFormat(text, code).format(values));
              const quotes = (s) => (s.match(/'/g) || []).length;
              const bad = out.includes("{") || quotes(out) !== quotes(text);
              if (bad) problems.push(`${code}:${key}`);
            } catch (e) {
              problems.push(`${code}:${key}: ${e.message}`);
            }
          }
        }
        console.log(JSON.stringify(problems));
    """
    result = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout) == []


def test_the_screens_take_their_text_from_the_catalogues() -> None:
    """No English sentence is written into any join module (the statement and upload panels
    included): headings, paragraphs and buttons are made from t(...)."""
    literal = re.compile(
        r"""(?:\bh\(\s*"(?:h1|h2|p|li|button|label|legend|a|summary)",\s*\{[^}]*\},\s*"[A-Z]"""
        r"""|\b(?:button|workButton)\(\s*"[A-Z]|\bbusyButton\(\s*"[A-Z]|textContent\s*=\s*"[A-Z])"""
    )
    offenders = [
        f"{path.relative_to(WEB)}:{n}"
        for path in sorted((WEB / "src" / "join").rglob("*.ts"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if literal.search(line)
    ]
    assert offenders == []
