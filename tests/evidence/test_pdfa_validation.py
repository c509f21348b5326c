"""Signed statements, as rendered for the exhibit, are valid PDF/A-2b according to veraPDF
(the PDF/A validator of the veraPDF consortium), not only labelled as such in their XMP.

veraPDF's self-contained greenfield jar is fetched by scripts/setup.sh into .tools/verapdf/.
All renderings are checked in one JVM run, which keeps this module to one start-up.
"""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, ImageDraw

from core.canonical import sha256_hex
from evidence.pdfa import StatementDocument, render_statement_pdf

ROOT = Path(__file__).resolve().parents[2]
VERAPDF_DIR = ROOT / ".tools" / "verapdf"

TEXTS = {
    "en": "I heard glass break at about nine o'clock and saw a man in a grey hoodie run off.",
    "cy": "Clywais wydr yn torri tua naw o'r gloch a gwelais ddyn mewn hwdi llwyd yn rhedeg.",
    "pl": "Słyszałam tłuczone szkło około dziewiątej; mężczyzna uciekł w stronę żółtej bramy.",
    "ro": "Am auzit sticlă spartă în jurul orei nouă și am văzut un bărbat fugind spre ușă.",
    # U+06C1 and U+06D2 are letters DejaVu Sans does not have: they need the Nastaliq font.
    "ur": "میں نے تقریباً نو بجے شیشہ ٹوٹنے کی آواز سنی اور ایک آدمی کو بھاگتے ہوئے دیکھا",
}


def drawn_signature() -> bytes:
    """A signature as the phone sends it: strokes on a transparent canvas, as PNG."""
    canvas = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    pen = ImageDraw.Draw(canvas)
    pen.line([(20, 150), (90, 40), (140, 160), (220, 60), (300, 140), (420, 70)], (0, 0, 0, 255), 6)
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


def statement(language: str, text: str, *, supersedes: str | None = None) -> StatementDocument:
    return StatementDocument(
        statement_id=f"st-{language}",
        crime_reference="CR/12345/24",
        witness_name="Jane Witness",
        over_18=True,
        age=None,
        language=language,
        text=text,
        text_sha256=sha256_hex(text.encode()),
        signature_png=drawn_signature(),
        signed_at=datetime(2026, 11, 28, 21, 30, tzinfo=UTC),
        officer_collar="4471",
        officer_name="PC Smith",
        supersedes=supersedes,
    )


def verapdf(pdfs: list[Path]) -> dict[str, list[str]]:
    """Validate each PDF as PDF/A-2b; return each file's failed rules (empty when it passes)."""
    jars = sorted(VERAPDF_DIR.glob("greenfield-apps-*.jar"))
    assert jars, f"veraPDF is not in {VERAPDF_DIR}: run scripts/setup.sh"
    run = subprocess.run(
        [
            "java",
            "-XX:+UseSerialGC",
            "-cp",
            str(jars[-1]),
            "org.verapdf.apps.GreenfieldCliWrapper",
            "--flavour",
            "2b",
            "--format",
            "text",
            "--verbose",
            *map(str, pdfs),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,  # a FAIL verdict exits non-zero; the verdicts are read below
    )
    verdicts: dict[str, str] = {}
    rules: dict[str, list[str]] = {}
    for line in run.stdout.splitlines():
        words = line.split()
        if line.startswith(("PASS ", "FAIL ")):  # "FAIL <file> 2b", then "  FAIL <rule>" lines
            verdicts[words[1]] = words[0]
            rules[words[1]] = []
        elif line.startswith("  FAIL ") and verdicts:
            rules[list(verdicts)[-1]].append(words[1])
    assert set(verdicts) == {str(p) for p in pdfs}, run.stdout + run.stderr
    return {
        name: rules[name] or ["not compliant"] if verdict == "FAIL" else []
        for name, verdict in verdicts.items()
    }


def test_rendered_statements_are_valid_pdfa_2b(tmp_path: Path) -> None:
    docs = [statement(lang, text) for lang, text in TEXTS.items()]
    # A correction (a further statement naming the one it corrects), long enough for pages.
    docs.append(statement("en-long", "\n\n".join([TEXTS["en"]] * 25), supersedes="st-en"))
    pdfs = []
    for doc in docs:
        pdf = tmp_path / f"{doc.statement_id}.pdf"
        pdf.write_bytes(render_statement_pdf(doc))
        pdfs.append(pdf)
    # The check can fail: a plain PDF (no PDF/A identification, no output intent) is
    # validated in the same run (one JVM start) and must be reported.
    from weasyprint import HTML  # type: ignore[import-untyped]  # noqa: PLC0415 - heavy

    plain = tmp_path / "plain.pdf"
    plain.write_bytes(HTML(string="<p>not archival</p>").write_pdf())
    results = verapdf([*pdfs, plain])
    assert results.pop(str(plain))
    assert results == {str(p): [] for p in pdfs}
