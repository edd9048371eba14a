"""adapter.intake.parse.signing: Standard Webhooks verification that names the header at fault."""

import base64
import time
from datetime import UTC, datetime

import pytest

from adapter.intake.signing import SignatureError, sign, verify
from tests.conftest import PRODUCT_SECRET, ROTATED_SECRET

BODY = '{"test": 2432232314}'


def test_spec_test_vector():
    headers = sign(PRODUCT_SECRET, BODY, "msg_p5jXN8AQM9LWM0D4loKWxJek",
                   datetime.fromtimestamp(1614265330, tz=UTC))
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert headers["webhook-timestamp"] == "1614265330"


def test_non_utc_datetime_is_converted_before_signing():
    from zoneinfo import ZoneInfo
    moment = datetime.fromtimestamp(1614265330, tz=ZoneInfo("Asia/Tokyo"))
    assert sign(PRODUCT_SECRET, BODY, "m", moment)["webhook-timestamp"] == "1614265330"


def test_valid_and_rotated_secrets_verify():
    headers = sign(PRODUCT_SECRET, BODY, "msg_1")
    verify([PRODUCT_SECRET], BODY.encode(), headers)
    verify([ROTATED_SECRET, PRODUCT_SECRET], BODY.encode(), headers)
    with pytest.raises(SignatureError) as caught:
        verify([ROTATED_SECRET], BODY.encode(), headers)
    assert caught.value.header == "webhook-signature"


def test_sender_signing_with_old_and_new_secret_verifies_against_either():
    old = sign(PRODUCT_SECRET, BODY, "m")
    new = sign(ROTATED_SECRET, BODY, "m")
    both = dict(old, **{"webhook-signature": f"{old['webhook-signature']} {new['webhook-signature']}"})
    verify([ROTATED_SECRET], BODY.encode(), both)
    verify([PRODUCT_SECRET], BODY.encode(), both)


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_missing_header_is_named(header):
    headers = sign(PRODUCT_SECRET, BODY, "m")
    del headers[header]
    with pytest.raises(SignatureError) as caught:
        verify([PRODUCT_SECRET], BODY.encode(), headers)
    assert caught.value.header == header


@pytest.mark.parametrize("offset,reason", [(-400, "too old"), (400, "too new")])
def test_timestamps_beyond_five_minutes_are_rejected(offset, reason):
    moment = datetime.fromtimestamp(time.time() + offset, tz=UTC)
    headers = sign(PRODUCT_SECRET, BODY, "m", moment)
    with pytest.raises(SignatureError) as caught:
        verify([PRODUCT_SECRET], BODY.encode(), headers)
    assert caught.value.header == "webhook-timestamp"
    assert reason in caught.value.reason


def test_timestamps_within_five_minutes_pass():
    for offset in (-240, 240):
        moment = datetime.fromtimestamp(time.time() + offset, tz=UTC)
        verify([PRODUCT_SECRET], BODY.encode(), sign(PRODUCT_SECRET, BODY, "m", moment))


def test_tampered_body_id_or_timestamp_fails():
    headers = sign(PRODUCT_SECRET, BODY, "m")
    for body, changed in ((BODY.replace("2", "3"), {}), (BODY, {"webhook-id": "other"}),
                          (BODY, {"webhook-timestamp": str(int(headers["webhook-timestamp"]) - 1)})):
        with pytest.raises(SignatureError):
            verify([PRODUCT_SECRET], body.encode(), {**headers, **changed})


@pytest.mark.parametrize("signature", ["v1", "garbage", "v1,", ",abc", "v1,@@@not-base64@@@", "v1,abc"])
def test_malformed_signature_header_is_a_signature_error_not_a_crash(signature):
    headers = {**sign(PRODUCT_SECRET, BODY, "m"), "webhook-signature": signature}
    with pytest.raises(SignatureError) as caught:
        verify([PRODUCT_SECRET], BODY.encode(), headers)
    assert caught.value.header == "webhook-signature"


def test_unknown_versions_are_skipped_and_non_numeric_timestamp_named():
    good = sign(PRODUCT_SECRET, BODY, "m")
    fake = base64.b64encode(b"x" * 32).decode()
    verify([PRODUCT_SECRET], BODY.encode(), {**good, "webhook-signature": f"v1a,{fake} {good['webhook-signature']}"})
    for bad in ("12.5", "-5", "²", "1e9", " 1614265330"):
        with pytest.raises(SignatureError) as caught:
            verify([PRODUCT_SECRET], BODY.encode(), {**good, "webhook-timestamp": bad})
        assert caught.value.header == "webhook-timestamp"


def test_no_configured_secret_rejects():
    with pytest.raises(SignatureError):
        verify([], BODY.encode(), sign(PRODUCT_SECRET, BODY, "m"))


def test_spec_example_verifies_beside_entries_of_other_versions_whatever_their_value():
    # The spec's published example (docs/standard-webhooks.md#test-vector), with a v1a entry that is not
    # base64 and one of an unknown version: consumers skip them and try the v1 entry.
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": "v1a,not*base64!! v2,?? v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    verify([PRODUCT_SECRET], BODY.encode(), headers, now=1614265330)
    only_other = {**headers, "webhook-signature": "v1a,not*base64!!"}
    with pytest.raises(SignatureError) as caught:
        verify([PRODUCT_SECRET], BODY.encode(), only_other, now=1614265330)
    assert "no v1" in caught.value.reason
