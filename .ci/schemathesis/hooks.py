"""The allow-list of `.ci/schemathesis/run`: where the gateway differs from VTEX's Customer
Credit OpenAPI document on purpose (README, "Where we differ from the spec, on purpose").

Two kinds of entries, each with its one-line reason:

* SPEC PATCHES (`before_load_schema`): the document is changed, in memory, to say what the
  gateway really does. Every check stays on and now holds the gateway to the patched
  document: an error answer must be one of the documented statuses with the JSON error
  body; a parameter the gateway reads more loosely than the spec (an optional header, a
  case-insensitive status) is described exactly, so schemathesis still expects every
  other violation to be refused.
* TOLERATED FAILURES (`filter_failure`): "schema-valid request rejected" (ST202) answers
  the gateway gives on purpose, where the spec's types are too loose to describe its
  rules (any string for a date or a payment link) or where the answer depends on what
  earlier calls did. Only the exact status, error code and field listed are dropped, and
  only when the request really breaks the rule the gateway states.
* schemathesis.toml: the one check turned off (`use_after_free`) and the statuses
  `positive_data_acceptance` accepts (stricter than its default).

Anything else fails the run.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import re
from urllib.parse import quote, unquote

import schemathesis
from hypothesis import strategies as st

INVOICES = "/invoices"
SEARCH = "/api/creditcontrol/invoices"
ACCOUNT_INVOICES = "/api/creditcontrol/accounts/{creditAccountId}/invoices"
INVOICE = "/api/creditcontrol/accounts/{creditAccountId}/invoices/{invoiceId}"
PAYMENTS = INVOICE + "/payments"
POSTPONEMENT = INVOICE + "/postponement"
# The calls that change an invoice.
CHANGES = {("PUT", INVOICE), ("DELETE", INVOICE), ("POST", PAYMENTS), ("PUT", POSTPONEMENT)}

# Rust's `char::is_whitespace` (Unicode White_Space) and `char::is_control` (Cc): what
# the gateway's `check_id` and `str::trim` use.
_WHITESPACE = "\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_SPACES = f"[{_WHITESPACE}]*"
# An id: 1 to 128 characters, none of them whitespace or control (src/domain/error.rs).
ID_PATTERN = r"^[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]{1,128}$"


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


def _words(*words: str) -> str:
    """Any of `words`, in any case, with surrounding whitespace (trimmed by the gateway)."""
    return f"^{_SPACES}({'|'.join(_any_case(w) for w in words)}){_SPACES}$"


ERROR_BODY = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "pattern": "^[A-Z_]+$"},
                "message": {"type": "string", "minLength": 1},
                "field": {"type": "string", "nullable": True},
            },
        }
    },
}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ERROR_BODY}}}


def _parameter(raw: dict, parameter: dict) -> dict:
    """The parameter itself, with a `$ref` to components/parameters resolved into a copy."""
    ref = parameter.get("$ref")
    if ref is None:
        return parameter
    return copy.deepcopy(raw["components"]["parameters"][ref.rsplit("/", 1)[1]])


@schemathesis.hook
def before_load_schema(context, raw_schema: dict) -> None:
    for path, item in raw_schema["paths"].items():
        if INVOICES not in path:
            continue
        for method, operation in item.items():
            if method not in ("get", "put", "post", "delete"):
                continue
            key = (method.upper(), path)
            # PATCH: failures answer 4xx with {"error": {code, message, field}}; the spec documents 200 only.
            responses = operation["responses"]
            responses["400"] = _error("a malformed parameter or body, named in `field`")
            responses["401"] = _error("no credentials, or wrong ones")
            responses["403"] = _error("the caller may not do this (a customer, a read-only key)")
            responses["404"] = _error("no such invoice, account or call")
            responses["405"] = _error("the path does not take that method")
            if key in CHANGES:
                responses["409"] = _error("`expectedVersion` is not the invoice's version")
                responses["422"] = _error("the status rules refuse the change (e.g. paying a cancelled invoice)")
            parameters = [_parameter(raw_schema, p) for p in operation.get("parameters", [])]
            operation["parameters"] = parameters
            for parameter in parameters:
                name, where, schema = parameter["name"], parameter["in"], parameter["schema"]
                if where == "header" and name in ("Content-Type", "Accept"):
                    # PATCH: Content-Type and Accept are not required on calls without a body; the answer is always JSON.
                    parameter["required"] = False
                elif name in ("creditAccountId", "invoiceId") or (name == "friendlyId" and key == ("GET", SEARCH)):
                    # PATCH: ids are 1 to 128 characters without whitespace or control characters (400 otherwise).
                    schema.update(pattern=ID_PATTERN, minLength=1, maxLength=128)
                if key == ("GET", SEARCH) and name == "creditAccountId":
                    # PATCH: creditAccountId is optional on the search: an administrator searches across accounts.
                    parameter["required"] = False
                if name == "status" and where == "query":
                    # PATCH: the status filter also takes Overdue, Open and Canceled, in any case, trimmed (README, Search).
                    del schema["enum"]
                    schema["pattern"] = _words("Opened", "Open", "Paid", "Cancelled", "Canceled", "Overdue")
            if key == ("PUT", INVOICE):
                body = operation["requestBody"]["content"]["application/json"]["schema"]
                # PATCH: every field of Change invoice is optional (`status` too: change only the link or note).
                body.pop("required", None)
                # PATCH: the status takes Opened, Open, Paid, Cancelled, Canceled, in any case, trimmed; null changes nothing.
                del body["properties"]["status"]["enum"]
                body["properties"]["status"]["nullable"] = True
                body["properties"]["status"]["pattern"] = _words("Opened", "Open", "Paid", "Cancelled", "Canceled")
                # PATCH: our extras `reason` (reopening a paid invoice) and `expectedVersion` (optimistic locking).
                body["properties"]["reason"] = {"type": "string", "nullable": True}
                body["properties"]["expectedVersion"] = {"type": "integer", "format": "int32", "nullable": True}
                # PATCH: an unknown body field is refused with 400, never silently ignored.
                body["additionalProperties"] = False
            if key == ("PUT", POSTPONEMENT):
                body = operation["requestBody"]["content"]["application/json"]["schema"]
                # PATCH: dueDays is a whole number of days from 1 to 366; unknown body fields are refused.
                body["properties"]["dueDays"] = {"type": "integer", "minimum": 1, "maximum": 366}
                body["additionalProperties"] = False
            if key == ("GET", ACCOUNT_INVOICES):
                summary = responses["200"]["content"]["application/json"]["schema"]["properties"]["summary"]
                # PATCH: summary.totalPaid/totalCancelled are money (number), as the search's own schema says.
                for total in ("totalPaid", "totalCancelled"):
                    summary["properties"][total]["type"] = "number"


# TOLERATED: "schema-valid request rejected" (ST202) answers, by call and by
# (status, error code, field). Each comes with a test of the request: the failure is
# dropped only when the request really breaks the rule the gateway states (a `value` of
# `101.22` refused would still fail the run). Rules that depend on the invoice's state
# (what earlier calls did to it) are taken as stated.
_TRIM = _WHITESPACE.replace("\u2000-\u200a", "".join(map(chr, range(0x2000, 0x200B))))


def _text(value) -> str | None:
    return None if value is None else str(value)


def _position(text: str | None) -> int | None:
    """`from`/`to` as the gateway reads them: a whole number from 1 (None when it is not)."""
    if text is None:
        return None
    trimmed = text.strip(_TRIM)
    if re.fullmatch(r"\+?[0-9]+", trimmed) and 1 <= int(trimmed) <= 2**63 - 1:
        return int(trimmed)
    return None


def _bad_positions(case) -> bool:
    query = case.query or {}
    given = {name: _text(query.get(name)) for name in ("from", "to")}
    parsed = {name: _position(text) for name, text in given.items()}
    if any(text is not None and parsed[name] is None for name, text in given.items()):
        return True
    return parsed["to"] is not None and parsed["to"] < (parsed["from"] or 1)


_INSTANT = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,9})?(Z|[+-]([0-9]{2}):([0-9]{2}))"
)


def _plainly_valid_date(text: str | None) -> bool:
    """A date YYYY-MM-DD (years 0001-9999) or a plain RFC 3339 instant (`T`, seconds, `Z`
    or an offset under 24 h). Anything more exotic (a lowercase `t`, a space, a leap second)
    is not plainly valid: the gateway may refuse it."""
    if text is None:
        return True
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            datetime.date.fromisoformat(text)  # refuses the year 0000 too
            return True
        instant = _INSTANT.fullmatch(text)
        if instant:
            datetime.date.fromisoformat(instant.group(1))
            datetime.time.fromisoformat(instant.group(2))  # refuses a leap second (60)
            return instant.group(4) == "Z" or (int(instant.group(5)) < 24 and int(instant.group(6)) < 60)
    except ValueError:
        return False
    return False


def _bad_date(name):
    return lambda case: not _plainly_valid_date(_text((case.query or {}).get(name)))


def _bad_value(case) -> bool:
    """Money: at most 14 integer digits and 4 decimals (trailing zeros aside), no exponent."""
    text = _text((case.query or {}).get("value"))
    if text is None:
        return False
    match = re.fullmatch(r"-?([0-9]{1,14})(\.([0-9]*))?", text)
    return not match or len((match.group(3) or "").rstrip("0")) > 4


_SAFE_LINK = re.compile(r"https://[a-z0-9]+(-[a-z0-9]+)*(\.[a-z0-9]+(-[a-z0-9]+)*)+(/[A-Za-z0-9._~/-]*)?")


def _bad_link(case) -> bool:
    """Anything but a plain `https://host.name/path` may break the payment link rules."""
    link = (case.body or {}).get("paymentLink") if isinstance(case.body, dict) else None
    return link is not None and not _SAFE_LINK.fullmatch(str(link))


def _too_long(name, limit):
    def test(case) -> bool:
        text = (case.body or {}).get(name) if isinstance(case.body, dict) else None
        return isinstance(text, str) and len(text.strip(_TRIM)) > limit

    return test


def _control(name):
    def test(case) -> bool:
        text = (case.body or {}).get(name) if isinstance(case.body, dict) else None
        return isinstance(text, str) and any(
            (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F) and c not in "\t\n\r" for c in text
        )

    return test


def _control_parameter(name):
    """The query parameter `name` holds a control character other than tab and line breaks."""

    def test(case) -> bool:
        text = _text((case.query or {}).get(name))
        return isinstance(text, str) and any(
            (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F) and c not in "\t\n\r" for c in text
        )

    return test


def _state(case) -> bool:
    return True


_SEARCH_PARSING = {
    # the spec types `from`/`to` as any string; they are positions from 1, `to` not before `from`.
    (400, "BAD_REQUEST", "from"): _bad_positions,
    (400, "BAD_REQUEST", "to"): _bad_positions,
    # the spec types the dates as any string; they are YYYY-MM-DD or an RFC 3339 instant.
    (400, "BAD_REQUEST", "createdDateFrom"): _bad_date("createdDateFrom"),
    (400, "BAD_REQUEST", "createdDateTo"): _bad_date("createdDateTo"),
    (400, "BAD_REQUEST", "dueDateFrom"): _bad_date("dueDateFrom"),
    (400, "BAD_REQUEST", "dueDateTo"): _bad_date("dueDateTo"),
    # the spec types `value` as any number; money has at most 4 decimals and 14 integer digits, no exponent.
    (400, "BAD_REQUEST", "value"): _bad_value,
    # an observation with control characters (a NUL, say) matches none: no stored one holds any.
    (400, "BAD_REQUEST", "observation"): _control_parameter("observation"),
}
_STATE_RULES = {
    # the status rules, which depend on what earlier calls did (paying a cancelled invoice, ...).
    (422, "INVALID_TRANSITION", "status"): _state,
}
TOLERATED = {
    ("GET", SEARCH): _SEARCH_PARSING,
    ("PUT", INVOICE): _STATE_RULES
    | {
        # a paid or cancelled invoice takes no new payment link (state).
        (422, "INVALID_TRANSITION", "paymentLink"): _state,
        # reopening a paid invoice needs a `reason` (state).
        (422, "REASON_REQUIRED", "reason"): _state,
        # reopening an invoice past its due date needs a later due date first (state).
        (422, "INVALID_DUE_DATE", "status"): _state,
        # the spec takes any string as a payment link; ours must be a safe absolute https URL.
        (400, "INVALID_PAYMENT_LINK", "paymentLink"): _bad_link,
        # observation: at most 2000 characters once trimmed, no control characters but tab and line breaks.
        (400, "TOO_LONG", "observation"): _too_long("observation", 2000),
        (400, "INVALID_INPUT", "observation"): _control("observation"),
        # reason: at most 500 characters once trimmed, no control characters but tab and line breaks.
        (400, "TOO_LONG", "reason"): _too_long("reason", 500),
        (400, "INVALID_INPUT", "reason"): _control("reason"),
    },
    ("DELETE", INVOICE): _STATE_RULES,
    ("POST", PAYMENTS): _STATE_RULES,
    ("PUT", POSTPONEMENT): {
        # the due date of a paid or cancelled invoice cannot move (state).
        (422, "INVALID_TRANSITION", "dueDate"): _state,
        # a due date still in the past (postponing an invoice long overdue), or past the year 9999 (state).
        (422, "INVALID_DUE_DATE", "dueDate"): _state,
    },
}


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """False drops the failure: only ST202 answers listed in TOLERATED, for requests that break the rule."""
    if failure.code != "ST202":
        return True
    try:
        error = response.json()["error"]
        answer = (response.status_code, error["code"], error["field"])
    except Exception:
        return True
    key = (case.operation.method.upper(), case.operation.path)
    breaks_rule = TOLERATED.get(key, {}).get(answer)
    if breaks_rule is None or not breaks_rule(case):
        return True
    if os.environ.get("CG_DROPPED_LOG"):  # the run script counts what was tolerated
        with open(os.environ["CG_DROPPED_LOG"], "a") as log:
            log.write(json.dumps([failure.code, " ".join(key), *answer]) + "\n")
    return False


# NOT AN ALLOW-LIST ENTRY, test data: the run script seeds invoices and names them in
# CG_SEEDED_INVOICES ("pool:account/invoice ..."), a pool for each change (pay, cancel,
# postpone, change) so that paying every invoice it has seen (schemathesis reuses the ids
# that answers carry) leaves the other calls some to cancel or postpone: a change sent to
# another change's seeded invoice goes to its own pool's instead (`before_call`). And a
# generated pair of valid ids is swapped for a seeded one half the time (reads take any),
# so that calls reach real invoices rather than 404. Invalid ids (negative cases) are
# never touched.
_POOLS = {("POST", PAYMENTS): "pay", ("DELETE", INVOICE): "cancel", ("PUT", POSTPONEMENT): "postpone", ("PUT", INVOICE): "change"}
_SEEDED = [entry.partition(":")[::2] for entry in os.environ.get("CG_SEEDED_INVOICES", "").split()]
_ID = re.compile(ID_PATTERN)


def _valid(value) -> bool:
    return isinstance(value, str) and _ID.fullmatch(unquote(value)) is not None


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    names = set(path_parameters or ())
    if not names or not names <= {"creditAccountId", "invoiceId"}:
        return st.just(path_parameters)
    if not all(_valid(path_parameters[name]) for name in names):
        return st.just(path_parameters)
    operation = context.operation
    pool = _POOLS.get((operation.method.upper(), operation.path))
    seeded = [
        {name: quote(value, safe="") for name, value in zip(("creditAccountId", "invoiceId"), ids.split("/", 1)) if name in names}
        for kind, ids in _SEEDED
        if pool in (None, kind)
    ]
    if not seeded:
        return st.just(path_parameters)
    return st.one_of(st.just(path_parameters), st.sampled_from(seeded))


_POOL_OF = {ids.split("/", 1)[1]: kind for kind, ids in _SEEDED}
_POOL_IDS = {kind: [ids.split("/", 1)[1] for k, ids in _SEEDED if k == kind] for kind, _ in _SEEDED}


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    pool = _POOLS.get((case.operation.method.upper(), case.operation.path))
    path = case.path_parameters or {}
    invoice = unquote(str(path.get("invoiceId", "")))
    other = _POOL_OF.get(invoice)
    if pool is None or other in (None, pool, "read") or not _POOL_IDS.get(pool):
        return
    # A negative case (an invalid account id beside the seeded invoice) stays as it is:
    # schemathesis re-checks an edited case, and would take it for a positive one.
    if not all(_valid(value) for value in path.values()):
        return
    own = _POOL_IDS[pool][_POOL_IDS[other].index(invoice) % len(_POOL_IDS[pool])]
    case.path_parameters["invoiceId"] = quote(own, safe="")
