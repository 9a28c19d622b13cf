"""Schemathesis hooks of scripts/fuzz-api.sh.

Generated requests reuse short Idempotency-Key values ("0", "a", ...) across different
requests. The API then answers 422 `idempotency_key_reused`, or replays the stored answer of
an earlier request (whose resource may be gone since), exactly as documented; but the checks
would read those as rejected valid data or vanished resources. Real clients use a fresh key
per logical request, so every valid key of a positive case gets a unique suffix. Replays
themselves are covered by tests/it/api_idempotency.rs.

Some rules no JSON Schema keyword can state are left out of generated bodies instead: a
filter's size (16 KB serialized, 256 conditions: the document bounds its shape, not its
bulk) and custom header names that differ only in case (refused as given twice).
"""

import json
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


MAX_FILTER_BYTES = 16 * 1024
MAX_FILTER_NODES = 256


def _keys(value):
    """Every object key in a JSON value: at least half the conditions the API counts."""
    if isinstance(value, dict):
        return len(value) + sum(_keys(v) for v in value.values())
    if isinstance(value, list):
        return sum(_keys(v) for v in value)
    return 0


@schemathesis.hook
def filter_body(context, body):
    if not isinstance(body, dict):
        return True
    document = body.get("filter")
    if isinstance(document, dict):
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        # Margin: Python and serde_json spell some numbers differently.
        if len(text.encode("utf-8", "surrogatepass")) > MAX_FILTER_BYTES * 0.9:
            return False
        if 2 * _keys(document) > MAX_FILTER_NODES:
            return False
    headers = body.get("headers")
    if isinstance(headers, dict) and len({name.lower() for name in headers}) < len(headers):
        return False
    return True
