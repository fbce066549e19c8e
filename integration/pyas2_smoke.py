"""Prove the django-pyas2 bed with messages built by pyas2lib itself (not by xfer).

Run with the pyas2 venv's Python (it has pyas2lib and requests)::

    /opt/xfer-pyas2-venv/bin/python integration/pyas2_smoke.py URL PKI_FOLDER

Sends, with the PKI's client certificate on the TLS connection:
1. XFERCLIENT -> XFERPARTNER, signed + encrypted + compressed, signed sync MDN: must be processed;
2. XFERCLIENT-SIGNED, unsigned: must come back as an error MDN (insufficient security).
Prints one line per case; exits non-zero on any surprise.
"""

from __future__ import annotations

import sys
from email import message_from_bytes
from pathlib import Path

import requests
from pyas2lib import Mdn, Message, Organization, Partner


def send(url: str, pki: Path, partner_id: str, *, sign: bool, encrypt: bool, payload: bytes) -> tuple[str, str]:
    client_key = (pki / "client.key").read_bytes() + (pki / "client.pem").read_bytes()
    partner_cert = (pki / "partner.pem").read_bytes()
    me = Organization(as2_name=partner_id, sign_key=client_key, sign_key_pass="", decrypt_key=client_key,
                      decrypt_key_pass="")
    them = Partner(
        as2_name="XFERPARTNER", verify_cert=partner_cert, encrypt_cert=partner_cert, validate_certs=False,
        sign=sign, digest_alg="sha256", encrypt=encrypt, enc_alg="aes_256_cbc", compress=True,
        mdn_mode="SYNC", mdn_digest_alg="sha256",
    )
    message = Message(me, them)
    message.build(payload, filename="smoke.edi", content_type="application/edi-consent")
    response = requests.post(
        url, data=message.content, headers=dict(message.headers), timeout=30,
        cert=(str(pki / "client.pem"), str(pki / "client.key")), verify=str(pki / "ca.pem"),
    )
    response.raise_for_status()
    raw = b"".join(f"{k}: {v}\r\n".encode() for k, v in response.headers.items()) + b"\r\n" + response.content
    mdn = Mdn()
    status, detail = mdn.parse(raw, lambda _mid, _pid: message)
    assert message_from_bytes(raw) is not None
    return status, str(detail)


def main(url: str, pki_folder: str) -> int:
    pki = Path(pki_folder)
    ok = True
    status, detail = send(url, pki, "XFERCLIENT", sign=True, encrypt=True, payload=b"UNB+UNOA:1+smoke'")
    print(f"XFERCLIENT signed+encrypted+compressed: {status} {detail}")
    ok &= status == "processed"
    status, detail = send(url, pki, "XFERCLIENT-SIGNED", sign=False, encrypt=True, payload=b"UNB+UNOA:1+bad'")
    print(f"XFERCLIENT-SIGNED unsigned: {status} {detail}")
    ok &= status != "processed" and "insufficient" in detail.lower()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
