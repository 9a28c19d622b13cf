"""Schemathesis hooks of scripts/fuzz-api.sh.

Positive cases are kept to the rules a schema cannot state, as a real client keeps to them:
custom header names unique regardless of case, payload filters within their budgets (256
conditions, 16 KB: fields are dropped from a larger one), and an event type's schema a valid
draft 2020-12 JSON Schema with local references only, which its example matches (a generated
object seldom is one; it is replaced by the empty schema then). These rules are described in
the document and checked by tests/it.

Generated requests reuse short Idempotency-Key values ("0", "a", ...) across different
requests. The API then answers 422 `idempotency_key_reused`, or replays the stored answer of
an earlier request (whose resource may be gone since), exactly as documented; but the checks
would read those as rejected valid data or vanished resources. Real clients use a fresh key
per logical request, so every valid key of a positive case gets a unique suffix. Replays
themselves are covered by tests/it/api_idempotency.rs.
"""

import json
import re
import uuid

import schemathesis
from jsonschema import Draft202012Validator

KEY = "Idempotency-Key"
# A filter's budget (src/domain/filter.rs): a field costs at most 10 conditions.
FILTER_FIELDS = 25
FILTER_BYTES = 15 * 1024
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
    body = case.body
    if isinstance(body, dict):
        keep_rules_no_schema_states(body)
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


def keep_rules_no_schema_states(body):
    """Drops repeated (case-insensitive) header names and the fields of a filter over budget."""
    headers = body.get("headers")
    if isinstance(headers, dict):
        seen = set()
        for name in list(headers):
            if name.lower() in seen:
                del headers[name]
            seen.add(name.lower())
    keep_schema_usable(body)
    document = body.get("filter")
    if isinstance(document, dict):
        while document and (
            len(document) > FILTER_FIELDS
            or len(json.dumps(document, ensure_ascii=False).encode()) > FILTER_BYTES
        ):
            document.pop(next(reversed(document)))


def keep_schema_usable(body):
    """Replaces an event type's schema that the API would refuse (src/domain/event_type.rs)."""
    schema = body.get("schema")
    if not isinstance(schema, dict):
        return
    try:
        Draft202012Validator.check_schema(schema)
        usable = not has_reference(schema)
        example = body.get("example")
        if usable and example is not None:
            usable = Draft202012Validator(schema).is_valid(example)
    except Exception:  # an invalid schema or pattern, whatever the validator raises
        usable = False
    if not usable:
        body["schema"] = {}


def has_reference(value):
    """Whether a schema holds a reference anywhere: the API resolves local ones only."""
    if isinstance(value, dict):
        return any(k in ("$ref", "$dynamicRef") or has_reference(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_reference(v) for v in value)
    return False
