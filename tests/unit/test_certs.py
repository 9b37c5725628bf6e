"""The self-signed serving pair: reused while good, warned about, made anew before expiry."""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from breakglass import certs


def expiry(path) -> dt.datetime:
    return x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc


def test_a_good_pair_is_reused(tmp_path):
    first, state = certs.ensure(tmp_path, ["localhost"])
    assert not state.renewed and not state.expiring
    before = first.cert_file.read_bytes()
    again, state = certs.ensure(tmp_path, ["localhost"])
    assert again.cert_file.read_bytes() == before and not state.renewed


def test_a_pair_close_to_expiry_is_warned_about_then_renewed(tmp_path):
    paths, _ = certs.ensure(tmp_path, ["localhost"], days=365)
    ends = expiry(paths.cert_file)
    original = paths.ca_file.read_bytes()
    _, state = certs.ensure(tmp_path, ["localhost"], now=ends - dt.timedelta(days=20))
    assert state.expiring and not state.renewed
    assert paths.ca_file.read_bytes() == original
    renewed, state = certs.ensure(tmp_path, ["localhost"], now=ends - dt.timedelta(days=3))
    assert state.renewed
    assert renewed.ca_file.read_bytes() != original
    assert expiry(renewed.cert_file) > ends - dt.timedelta(days=3) + dt.timedelta(days=300)


def test_an_expired_or_broken_pair_is_made_anew(tmp_path):
    paths, _ = certs.ensure(tmp_path, ["localhost"])
    _, state = certs.ensure(tmp_path, ["localhost"], now=expiry(paths.cert_file))
    assert state.renewed
    paths.cert_file.write_text("not a certificate")
    _, state = certs.ensure(tmp_path, ["localhost"])
    assert state.renewed
    assert expiry(paths.cert_file) > dt.datetime.now(dt.UTC)
