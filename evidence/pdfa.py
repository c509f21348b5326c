"""A signed witness statement (MG11) rendered as PDF/A-2b, for the exhibit and for print.

WeasyPrint lays the text out with Pango (so Welsh, Polish, Romanian and right-to-left Urdu
are shaped properly), embeds the fonts and the sRGB output intent, and writes the PDF/A
identification in the XMP metadata. The rendering is a view of the statement: the text that
was signed, and its SHA-256, are sealed beside it, and the PDF shows that hash so a printed
copy can be tied back to the sealed text.

Urdu is set in Noto Nastaliq Urdu (Debian's fonts-noto-core): DejaVu Sans lacks letters
such as U+06D2 (ے), which would otherwise be drawn as a missing glyph, and a .notdef glyph
is not allowed in PDF/A. ``tests/evidence/test_pdfa_validation.py`` checks the renderings
with veraPDF.
"""

from __future__ import annotations

import base64
import html
import warnings
from dataclasses import dataclass
from datetime import datetime

from core.utc import utc_iso

PDFA_VARIANT = "pdf/a-2b"

DECLARATION = (
    "This statement (consisting of {pages} page(s) each signed by me) is true to the best of"
    " my knowledge and belief and I make it knowing that, if it is tendered in evidence, I"
    " shall be liable to prosecution if I have wilfully stated anything which I know to be"
    " false, or do not believe to be true."
)
"""The declaration of CJA 1967 s.9 / CrimPR 16.2 as printed on the MG11."""

# A digital statement is one "page" signed once; the form's wording is kept as it is.
SIGNED_PAGES = 1


def declaration_text() -> str:
    """The declaration exactly as the witness is shown it and as it is sealed."""
    return DECLARATION.format(pages=SIGNED_PAGES)


@dataclass(frozen=True)
class StatementDocument:
    """Everything printed on the statement."""

    statement_id: str
    crime_reference: str
    witness_name: str
    over_18: bool
    age: int | None
    language: str
    text: str
    text_sha256: str
    signature_png: bytes
    signed_at: datetime
    officer_collar: str
    officer_name: str
    supersedes: str | None = None


# `image-rendering: crisp-edges` makes WeasyPrint write /Interpolate false: PDF/A-2 forbids
# /Interpolate true on an image (ISO 19005-2 6.2.8; veraPDF rule 6.2.8-3).
_CSS = """
@page { size: A4; margin: 18mm 16mm; @bottom-center { content: "Page " counter(page)
  " of " counter(pages); font-size: 9pt; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 11pt; line-height: 1.45; }
h1 { font-size: 15pt; margin: 0 0 2mm; } .law { font-size: 9pt; margin: 0 0 4mm; }
table { border-collapse: collapse; width: 100%; margin-bottom: 4mm; }
td { border: 0.5pt solid #000; padding: 1.5mm 2mm; vertical-align: top; }
td.k { width: 38%; font-weight: bold; }
.text { white-space: pre-wrap; border: 0.5pt solid #000; padding: 3mm; }
.decl { margin-top: 5mm; font-weight: bold; }
.sig img { height: 22mm; image-rendering: crisp-edges; }
.hash { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; word-break: break-all; }
.text:lang(ur) { font-family: "Noto Nastaliq Urdu", "Noto Naskh Arabic", sans-serif;
  font-size: 13pt; line-height: 2.4; }
"""

# Languages written right to left: WeasyPrint does not resolve dir="auto", so it is set.
_RTL = frozenset({"ar", "fa", "he", "ps", "sd", "ur", "yi"})


def statement_html(doc: StatementDocument) -> str:
    """The statement as a standalone HTML document (no external resources)."""
    e = html.escape
    signature = base64.b64encode(doc.signature_png).decode("ascii")
    age = "Over 18" if doc.over_18 else (f"{doc.age}" if doc.age is not None else "Under 18")
    rows = [
        ("URN / crime reference", doc.crime_reference),
        ("Statement of", doc.witness_name),
        ("Age if under 18", age),
        ("Statement id", doc.statement_id),
    ]
    if doc.supersedes:
        rows.append(("Corrects statement", doc.supersedes))
    direction = "rtl" if doc.language.split("-")[0].lower() in _RTL else "ltr"
    table = "".join(f'<tr><td class="k">{e(k)}</td><td>{e(v)}</td></tr>' for k, v in rows)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Witness statement {e(doc.statement_id)}</title><style>{_CSS}</style></head>"
        "<body><h1>WITNESS STATEMENT</h1>"
        '<p class="law">Criminal Procedure Rules r. 16.2; Criminal Justice Act 1967, s. 9;'
        " Magistrates' Courts Act 1980, ss. 5A(3)(a) and 5B</p>"
        f"<table>{table}</table>"
        f'<div class="text" lang="{e(doc.language)}" dir="{direction}">{e(doc.text)}</div>'
        f'<p class="decl">{e(declaration_text())}</p>'
        "<table>"
        f'<tr><td class="k">Signature</td><td class="sig">'
        f'<img alt="Signature of {e(doc.witness_name)}" src="data:image/png;base64,{signature}">'
        "</td></tr>"
        f'<tr><td class="k">Signed (typed name)</td><td>{e(doc.witness_name)}</td></tr>'
        f'<tr><td class="k">Date and time (UTC)</td><td>{e(utc_iso(doc.signed_at))}</td></tr>'
        f'<tr><td class="k">Taken by</td><td>{e(doc.officer_name)}'
        f" (collar {e(doc.officer_collar)}), by video call</td></tr>"
        f'<tr><td class="k">SHA-256 of the statement text</td>'
        f'<td class="hash">{e(doc.text_sha256)}</td></tr>'
        "</table></body></html>"
    )


def render_statement_pdf(doc: StatementDocument) -> bytes:
    """The statement as PDF/A-2b bytes (fonts embedded, sRGB output intent, XMP pdfaid)."""
    from weasyprint import HTML  # type: ignore[import-untyped]  # noqa: PLC0415 - heavy; signing only

    with warnings.catch_warnings():
        # WeasyPrint opens its sRGB output-intent profile and leaves closing it to the garbage
        # collector; the ResourceWarning says nothing about the document.
        warnings.simplefilter("ignore", ResourceWarning)
        pdf = HTML(string=statement_html(doc)).write_pdf(pdf_variant=PDFA_VARIANT)
    if pdf is None:  # write_pdf returns bytes when no target is given
        raise RuntimeError("WeasyPrint returned no PDF")
    return bytes(pdf)
