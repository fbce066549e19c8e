"""Create the test bed's AS2 organisation and partners in django-pyas2's database.

Runs with the pyas2 venv's Python, after ``manage migrate``, from the run folder:

    python bootstrap.py PKI_FOLDER

Prints one JSON object describing the organisation and partners (the launcher stores it).

Organisation ``XFERPARTNER`` (the server side) decrypts and signs MDNs with the PKI's partner
identity.  Partners are the *client* (xfer) seen from the server; each verifies signatures with the
PKI's client certificate, and each demands a different minimum of security so the AS2 adapter's
matrix can prove both acceptance and refusal:

==================  =================================================================
XFERCLIENT          accepts anything: plain, signed, encrypted, compressed, any MDN
XFERCLIENT-SIGNED   refuses unsigned messages (InsufficientSecurityError in the MDN)
XFERCLIENT-ENC      refuses unencrypted messages
XFERCLIENT-SECURE   refuses messages that are not both signed and encrypted
XFERCLIENT-OTHER    holds another certificate for the client (the partner's own), so every
                    signed message fails with authentication-failed (AS2 negative test)
==================  =================================================================

All keep the sender's file name, so payloads arrive as
``MEDIA_ROOT/messages/XFERPARTNER/inbox/<partner>/<filename>``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import django

ORGANIZATION = "XFERPARTNER"
PARTNERS: dict[str, dict[str, object]] = {
    "XFERCLIENT": {"signature": None, "encryption": None},
    "XFERCLIENT-SIGNED": {"signature": "sha256", "encryption": None},
    "XFERCLIENT-ENC": {"signature": None, "encryption": "aes_256_cbc"},
    "XFERCLIENT-SECURE": {"signature": "sha256", "encryption": "aes_256_cbc"},
    "XFERCLIENT-OTHER": {"signature": None, "encryption": None},
}


def main(pki_folder: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xfer_as2_settings")
    sys.path.insert(0, os.getcwd())
    django.setup()
    from pyas2.models import Organization, Partner, PrivateKey, PublicCertificate

    pki = Path(pki_folder)
    # pyas2lib reads a PEM holding both key and certificate (no password on the test key).
    key_pem = (pki / "partner.key").read_bytes() + (pki / "partner.pem").read_bytes()
    key = PrivateKey.objects.create(name="xfer partner key", key=key_pem, key_pass="")
    Organization.objects.create(name="xfer test partner", as2_name=ORGANIZATION, encryption_key=key, signature_key=key)
    client_leaf = _first_pem((pki / "client.pem").read_bytes())
    cert = PublicCertificate.objects.create(
        name="xfer client certificate",
        certificate=client_leaf,
        certificate_ca=(pki / "ca-bundle.pem").read_bytes(),
        verify_cert=True,
    )
    other = PublicCertificate.objects.create(
        name="not the xfer client certificate",
        certificate=(pki / "partner.pem").read_bytes(),
        certificate_ca=(pki / "ca-bundle.pem").read_bytes(),
        verify_cert=True,
    )
    for as2_name, security in PARTNERS.items():
        Partner.objects.create(
            name=as2_name.lower(),
            as2_name=as2_name,
            target_url="https://127.0.0.1:1/unused",  # the bed never sends to the client
            signature_cert=other if as2_name == "XFERCLIENT-OTHER" else cert,
            encryption_cert=cert,
            keep_filename=True,
            **security,
        )
    print(json.dumps({"organization": ORGANIZATION, "partners": PARTNERS}))


def _first_pem(data: bytes) -> bytes:
    end = b"-----END CERTIFICATE-----"
    return data[: data.index(end) + len(end)] + b"\n"


if __name__ == "__main__":
    main(sys.argv[1])
