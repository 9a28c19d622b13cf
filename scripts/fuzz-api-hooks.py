"""Schemathesis hooks of scripts/fuzz-api.sh.

Generated requests reuse short Idempotency-Key values ("0", "a", ...) across different
requests. The API then answers 422 `idempotency_key_reused`, or replays the stored answer of
an earlier request (whose resource may be gone since), exactly as documented; but the checks
would read those as rejected valid data or vanished resources. Real clients use a fresh key
per logical request, so every valid key of a positive case gets a unique suffix. Replays
themselves are covered by tests/it/api_idempotency.rs.
"""

import re
import uuid

import schemathesis

KEY = "Idempotency-Key"
VALID_KEY = re.compile(r"[!-~](?:[ -~]*[!-~])?")
MAX_KEY = 256


@schemathesis.hook
def before_call(context, case, kwargs):
    # Only positive cases: a negative one is meant to be refused anyway (a reused key is, with
    # 422), and editing it would make Schemathesis revalidate it as positive and send the
    # headers its scenario left out (a missing Authorization, say).
    meta = case.meta
    if meta is None or meta.generation.mode.is_negative:
        return
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() != KEY.lower():
            continue
        value = headers[name]
        if not isinstance(value, str):
            continue
        value = value.strip(" \t")  # as HTTP delivers it
        if len(value) <= MAX_KEY and VALID_KEY.fullmatch(value):
            suffix = "-" + uuid.uuid4().hex
            headers[name] = value[: MAX_KEY - len(suffix)] + suffix
