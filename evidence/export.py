"""Export a sealed item as a self-describing disclosure bundle.

A bundle can be checked by a third party with ``sha256sum``, ``openssl`` and ``jq`` (or
``python3``) alone; VERIFY.txt explains how. Bundle layout::

    masters/segment-00001.mp4 ...  the Master segments, byte-for-byte
    manifest.json, manifest.sig    signed manifest (raw Ed25519 signature)
    recorder-public.pem            the recorder's public key
    custody.jsonl                  custody extract, including this export
    VERIFY.txt                     how to check all of the above without this platform
    bundle.json, bundle.sig        signed by the platform: custody head, every file's hash
    platform-public.pem            the key that signed bundle.json
    SHA256SUMS                     hashes of every other file

Text that came from a user (the recipient) is written into VERIFY.txt only as a JSON string
literal, so it cannot add lines or instructions of its own.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Collection
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.canonical import sha256_hex
from core.custody import CustodyEvent, to_jsonl
from core.evidence_errors import JustificationRequiredError
from evidence.bundle import (
    BUNDLE_NAME,
    BUNDLE_SIG_NAME,
    PLATFORM_KEY_NAME,
    BundleStatement,
    sign_statement,
)
from evidence.hashing import (
    HashingFileWriter,
    copy_verified,
    fsync_directory,
    hash_file,
    private_directory,
)
from evidence.keys import key_id, public_key_pem
from evidence.manifest import Manifest
from evidence.store import (
    MANIFEST_NAME,
    MASTERS_DIR,
    PUBLIC_KEY_NAME,
    SIGNATURE_NAME,
    EvidenceStore,
)
from evidence.verify import CUSTODY_NAME, SUMS_NAME, verify_store_entry

VERIFY_NAME = "VERIFY.txt"

OPENSSL_VERIFY = (
    "openssl pkeyutl -verify -pubin -inkey recorder-public.pem -rawin"
    " -in manifest.json -sigfile manifest.sig"
)
OPENSSL_VERIFY_BUNDLE = (
    "openssl pkeyutl -verify -pubin -inkey platform-public.pem -rawin"
    " -in bundle.json -sigfile bundle.sig"
)
# One line on purpose: VERIFY.txt indents commands, which would break multi-line Python.
PYTHON_CHAIN_CHECK = (
    'python3 -c \'import hashlib,json; E=[json.loads(l) for l in open("custody.jsonl")];'
    ' H=[e.pop("hash") for e in E]; [print("seq", e["seq"], "OK" if hashlib.sha256('
    'json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())'
    '.hexdigest() == H[i] and e["prev_hash"] == (H[i-1] if i else "0"*64)'
    ' and e["seq"] == i+1 else "FAILED") for i, e in enumerate(E)]\''
)

VERIFY_TEXT = """\
HOW TO VERIFY THIS EVIDENCE BUNDLE (evidence id {evidence_id})
====================================================================

This folder is a copy of a recorded video statement exported on {exported_at}
for the recipient named here as a JSON string: {recipient}
You can check it without the police platform that produced it,
using standard tools: sha256sum (coreutils), openssl (1.1.1 or later) and jq
(or python3). Run every command from inside this folder.

1. The files are complete and unchanged since export

    sha256sum -c SHA256SUMS

   Every line must end in "OK".

2. The manifest was signed by the recorder and not changed since

   manifest.json describes the recording: who took part, when (UTC), the crime
   reference, consent records, and the SHA-256 of every video segment.
   manifest.sig is an Ed25519 signature over manifest.json exactly as stored.

    {openssl_verify}

   It must print "Signature Verified Successfully".

3. The key is the force's recorder key

    openssl pkey -pubin -in recorder-public.pem -outform DER | sha256sum

   The result must equal "key_id" under "recorder" in manifest.json
   ({key_id}) and a key fingerprint the force publishes independently.
   A signature only proves something if the key is one you trust.

4. The video segments are the ones the signed manifest lists

   SHA256SUMS is not signed, so also check the segments against manifest.json:

    jq -r '.segments[] | "\\(.sha256)  masters/\\(.name)"' manifest.json | sha256sum -c

   Without jq, compare by eye the "sha256" of each entry under "segments" in
   manifest.json with the output of: sha256sum masters/*

5. The chain of custody is unbroken

   custody.jsonl has one entry per line: who did what to this evidence, when and
   why. Each entry's "hash" is the SHA-256 of the entry without its "hash" field,
   written as JSON with keys sorted and no spaces (what "jq -cSj" prints). Each
   entry's "prev_hash" is the previous entry's "hash" (64 zeros for the first),
   and "seq" counts 1, 2, 3 ... So an entry cannot be changed, removed or moved
   without breaking the chain from that point. To re-walk it:

    prev=0000000000000000000000000000000000000000000000000000000000000000; n=1
    while IFS= read -r line; do
      want=$(printf '%s' "$line" | jq -r .hash)
      got=$(printf '%s' "$line" | jq -cSj 'del(.hash)' | sha256sum | cut -d' ' -f1)
      link=$(printf '%s' "$line" | jq -r .prev_hash)
      seq=$(printf '%s' "$line" | jq -r .seq)
      if [ "$got" = "$want" ] && [ "$link" = "$prev" ] && [ "$seq" = "$n" ]; then
        echo "seq $seq OK"; else echo "seq $seq FAILED"; fi
      prev=$want; n=$((n+1))
    done < custody.jsonl

   Or, with python3 instead of jq:

    {python_chain_check}

   Every entry must say OK. The "sealed" entry records "manifest_sha256": it must
   equal the output of "sha256sum manifest.json". The last entry records this
   export: who exported it, why, and to whom.

6. The platform signed this bundle, custody extract included

   bundle.json names the last custody entry (custody_head: seq and hash) and the
   SHA-256 of every other file; bundle.sig is the platform's Ed25519 signature
   over bundle.json as stored.

    {openssl_verify_bundle}
    openssl pkey -pubin -in platform-public.pem -outform DER | sha256sum
    tail -n 1 custody.jsonl | jq -r '"\\(.seq) \\(.hash)"'
    jq -r '"\\(.custody_head.seq) \\(.custody_head.hash)"' bundle.json

   The signature must verify, the fingerprint must be one the force publishes
   ({platform_key_id}), and the last two lines must be equal: then no custody
   entry was added, removed or rewritten since export.

If any step fails, do not rely on the bundle; report which step and which line.
"""


def export_bundle(
    store: EvidenceStore,
    evidence_id: str,
    destination: Path,
    *,
    actor: str,
    justification: str,
    recipient: str,
    signing_key: Ed25519PrivateKey,
    trusted_key_ids: Collection[str],
    at: datetime | None = None,
) -> Path:
    """Write a disclosure bundle for ``evidence_id`` into the new directory ``destination``.

    The item is verified first, against ``trusted_key_ids`` only, and a failing item is not
    exported (the first failure is raised as :class:`IntegrityError`); masters are
    re-hashed as they are copied. The ``exported`` custody entry (actor, justification,
    recipient) is appended once the masters are copied, and is part of the bundle's custody
    extract, whose head ``signing_key`` signs in ``bundle.json``.
    """
    if not justification.strip():
        raise JustificationRequiredError("exporting evidence requires a justification")
    if not recipient.strip():
        raise JustificationRequiredError("an export must name its recipient")
    verify_store_entry(store, evidence_id, trusted_key_ids=trusted_key_ids).raise_for_failure()
    source = store.directory_of(evidence_id)
    manifest_bytes = (source / MANIFEST_NAME).read_bytes()
    manifest = Manifest.from_bytes(manifest_bytes)

    private_directory(destination.parent)
    destination.mkdir(mode=0o700, exist_ok=False)
    (destination / MASTERS_DIR).mkdir(mode=0o700)
    for segment in manifest.segments:
        copy_verified(
            source / MASTERS_DIR / segment.name,
            destination / MASTERS_DIR / segment.name,
            expected_sha256=segment.sha256,
        )
    for name in (MANIFEST_NAME, SIGNATURE_NAME, PUBLIC_KEY_NAME):
        shutil.copyfile(source / name, destination / name)

    entry = store.custody.append(
        evidence_id=evidence_id,
        event=CustodyEvent.EXPORTED,
        actor=actor,
        reason=justification,
        details={
            "recipient": recipient,
            "bundle": destination.name,
            "manifest_sha256": sha256_hex(manifest_bytes),
        },
        at=at,
    )
    platform = signing_key.public_key()
    platform_kid = key_id(platform)
    _write(destination / PLATFORM_KEY_NAME, public_key_pem(platform))
    custody = store.custody.entries_for(evidence_id)
    _write(destination / CUSTODY_NAME, to_jsonl(custody))
    _write(
        destination / VERIFY_NAME,
        VERIFY_TEXT.format(
            evidence_id=evidence_id,
            exported_at=entry.body()["at"],
            recipient=quoted(recipient),
            key_id=manifest.recorder.key_id,
            platform_key_id=platform_kid,
            openssl_verify=OPENSSL_VERIFY,
            openssl_verify_bundle=OPENSSL_VERIFY_BUNDLE,
            python_chain_check=PYTHON_CHAIN_CHECK,
        ).encode("utf-8"),
    )
    statement = BundleStatement(
        evidence_id=evidence_id,
        exported_at=str(entry.body()["at"]),
        manifest_sha256=sha256_hex(manifest_bytes),
        custody_seq=custody[-1].seq,
        custody_hash=custody[-1].hash,
        key_id=platform_kid,
        files={
            p.relative_to(destination).as_posix(): hash_file(p).sha256
            for p in sorted(destination.rglob("*"))
            if p.is_file()
        },
    )
    _write(destination / BUNDLE_NAME, statement.canonical_bytes())
    _write(destination / BUNDLE_SIG_NAME, sign_statement(statement, signing_key))
    files = sorted(p for p in destination.rglob("*") if p.is_file())
    sums = "".join(
        f"{hash_file(p).sha256}  {p.relative_to(destination).as_posix()}\n" for p in files
    )
    _write(destination / SUMS_NAME, sums.encode("utf-8"))
    for path in (*files, destination / SUMS_NAME):
        path.chmod(0o444)
    fsync_directory(destination / MASTERS_DIR)
    fsync_directory(destination)
    return destination


def quoted(text: str) -> str:
    """``text`` as a one-line JSON string literal: quotes, newlines, control and non-ASCII
    characters (bidi overrides included) escaped, so it reads as data, never as instructions."""
    return json.dumps(text, ensure_ascii=True)


def _write(path: Path, data: bytes) -> None:
    with HashingFileWriter(path) as out:
        out.write(data)
