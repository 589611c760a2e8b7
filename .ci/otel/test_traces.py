#!/usr/bin/env python3
"""OpenTelemetry conformance: the release gateway exporting spans to a real OTLP/HTTP
receiver (protobuf, decoded with opentelemetry-proto), on one backend per run.

Run by .ci/otel/run, which passes:
  CG_BIN           the release binary
  CG_BACKEND       sqlite | postgres
  CG_DATABASE_URL  a fresh database (SQLite file in a temporary directory, or a new
                   PostgreSQL database)

What it checks (unittest, in this order):
  1. the resource's service.name is OTEL_SERVICE_NAME;
  2. a GraphQL query sent with a `traceparent` is a SERVER span under the caller's span,
     with the operation's span under it and one CLIENT span per SQL statement under
     those; no exported attribute carries a variable's value;
  3. the JSON `served` log line of that request names its request id and trace id;
  4. a webhook delivery sends a W3C `traceparent`, and its span (that span id) is
     exported;
  5. a CSV import exports `import batch` spans in the request's trace;
  6. with OTEL_SDK_DISABLED=true (the endpoint still set) nothing is exported.

Traffic stays on 127.0.0.1: the receivers, the gateway and its database.
"""

import csv
import gzip
import io
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

BIN = os.environ.get("CG_BIN", "")
BACKEND = os.environ.get("CG_BACKEND", "sqlite")
DATABASE_URL = os.environ.get("CG_DATABASE_URL", "")
DB_SYSTEM = {"sqlite": "sqlite", "postgres": "postgresql"}[BACKEND]
SERVICE_NAME = "credit-gateway-ci"
SECRET_VALUE = "SECRET-VALUE-4242"
SPANS_WAIT = 10.0  # seconds to wait for spans to be exported
QUIET_WAIT = 3.0  # seconds a disabled gateway must stay silent

LIST_OPEN = (
    "query ListOpen($id: ID!) { invoices(status: OPEN, first: 5) "
    "{ nodes { id value account { name } order { id } } } invoice(id: $id) { id } }"
)

KINDS = {value: name.replace("SPAN_KIND_", "") for name, value in trace_pb2.Span.SpanKind.items()}
TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

# Plain HTTP to loopback: never through a proxy the environment may name.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def log(message=""):
    print(message, flush=True)


# ---------------------------------------------------------------------------------------
# The OTLP/HTTP receiver


def any_value(value):
    """An OTLP AnyValue as a Python value."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which)


def attributes(key_values):
    return {kv.key: any_value(kv.value) for kv in key_values}


class Span:
    """One exported span, flattened."""

    def __init__(self, resource, scope, span, received_at):
        self.resource = resource
        self.scope = scope
        self.trace_id = span.trace_id.hex()
        self.span_id = span.span_id.hex()
        self.parent_span_id = span.parent_span_id.hex()
        self.name = span.name
        self.kind = KINDS.get(span.kind, str(span.kind))
        self.attributes = attributes(span.attributes)
        self.events = [(e.name, attributes(e.attributes)) for e in span.events]
        self.status = trace_pb2.Status.StatusCode.Name(span.status.code)
        self.start = span.start_time_unix_nano
        self.end = span.end_time_unix_nano
        self.received_at = received_at

    def describe(self):
        return (
            f"{self.name!r} kind={self.kind} trace={self.trace_id} span={self.span_id} "
            f"parent={self.parent_span_id or '-'} attributes={self.attributes}"
            + (f" events={self.events}" if self.events else "")
            + (f" status={self.status}" if self.status != "STATUS_CODE_UNSET" else "")
        )


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that does not log each request."""

    def log_message(self, *args):
        pass

    def body(self):
        return self.rfile.read(int(self.headers.get("content-length") or 0))


def serve(handler):
    """`handler` served on 127.0.0.1 (a free port) in a daemon thread; the server."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class OtlpReceiver:
    """POST /v1/traces, protobuf (gzip or not), answered 200 with an empty response."""

    def __init__(self, label):
        self.label = label
        self.lock = threading.Lock()
        self.spans = []
        self.requests = []  # (received_at, path, content-type, content-encoding, raw body)
        self.problems = []
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = self.body()
                encoding = (self.headers.get("content-encoding") or "").lower()
                content_type = self.headers.get("content-type") or ""
                now = time.time()
                try:
                    if encoding == "gzip":
                        body = gzip.decompress(body)
                    elif encoding not in ("", "identity"):
                        raise ValueError(f"unexpected content-encoding {encoding!r}")
                    if self.path != "/v1/traces":
                        raise ValueError(f"unexpected path {self.path!r}")
                    if "protobuf" not in content_type:
                        raise ValueError(f"unexpected content-type {content_type!r}")
                    request = trace_service_pb2.ExportTraceServiceRequest()
                    request.ParseFromString(body)
                except Exception as e:  # noqa: BLE001 - any failure is a finding
                    with receiver.lock:
                        receiver.problems.append(f"{self.path}: {e}")
                        receiver.requests.append((now, self.path, content_type, encoding, body))
                    self.send_response(400)
                    self.end_headers()
                    return
                spans = []
                for resource_spans in request.resource_spans:
                    resource = attributes(resource_spans.resource.attributes)
                    for scope_spans in resource_spans.scope_spans:
                        scope = scope_spans.scope.name
                        spans.extend(Span(resource, scope, s, now) for s in scope_spans.spans)
                with receiver.lock:
                    receiver.requests.append((now, self.path, content_type, encoding, body))
                    receiver.spans.extend(spans)
                answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = serve(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def snapshot(self):
        with self.lock:
            return list(self.spans)

    def raw_bodies(self):
        with self.lock:
            return [r[4] for r in self.requests]

    def in_trace(self, trace_id):
        return [s for s in self.snapshot() if s.trace_id == trace_id]

    def wait_for(self, condition, timeout=SPANS_WAIT):
        """Polls until `condition(spans)` is truthy; returns its last value and the spans."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.snapshot()
            found = condition(spans)
            if found or time.monotonic() >= deadline:
                return found, spans
            time.sleep(0.1)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class WebhookReceiver:
    """Records every request (method, path, headers, body); answers 200."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = self.body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": headers, "body": body, "at": time.time()}
                    )
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = serve(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------
# The gateway


class Gateway:
    """`serve --demo --bind 127.0.0.1:0`; its URL read from the first line of stdout, its
    stderr (JSON log lines) kept."""

    def __init__(self, label, workdir, env):
        self.label = label
        self.workdir = workdir
        self.env = env
        self.stderr = []
        self.stdout = []
        self.process = subprocess.Popen(
            [BIN, "serve", "--demo", "--bind", "127.0.0.1:0"],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        first = threading.Event()

        def read_stdout():
            try:
                for line in self.process.stdout:
                    self.stdout.append(line.rstrip("\n"))
                    first.set()
            except (OSError, ValueError):
                pass  # closed by stop()
            first.set()

        def read_stderr():
            try:
                for line in self.process.stderr:
                    self.stderr.append(line.rstrip("\n"))
            except (OSError, ValueError):
                pass  # closed by stop()

        self.readers = [
            threading.Thread(target=read_stdout, daemon=True),
            threading.Thread(target=read_stderr, daemon=True),
        ]
        for reader in self.readers:
            reader.start()
        if not first.wait(120) or not self.stdout:
            self.stop()
            raise RuntimeError(
                f"{label}: the gateway did not start (exit {self.process.returncode}); "
                f"stderr:\n" + "\n".join(self.stderr[-30:])
            )
        found = re.search(r"http://127\.0\.0\.1:\d+", self.stdout[0])
        if not found:
            self.stop()
            raise RuntimeError(f"{label}: unexpected first line: {self.stdout[0]!r}")
        self.base = found.group(0)
        self.token = subprocess.run(
            [BIN, "token", "--admin"],
            cwd=workdir,
            env={**env, "OTEL_SDK_DISABLED": "true"},
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def json_logs(self):
        lines = []
        for line in list(self.stderr):
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
        return lines

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for reader in self.readers:
            reader.join(2)  # the last lines, after the process has exited
        for pipe in (self.process.stdout, self.process.stderr):
            try:
                pipe.close()
            except (OSError, ValueError):
                pass  # a reader thread may be closing it too

    # HTTP

    def request(self, method, path, body=None, headers=None):
        request = urllib.request.Request(
            self.base + path, data=body, method=method, headers=headers or {}
        )
        try:
            with HTTP.open(request, timeout=60) as response:
                return response.status, dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers.items()), e.read()

    def graphql(self, query, variables=None, headers=None):
        status, answer_headers, body = self.request(
            "POST",
            "/graphql",
            json.dumps({"query": query, "variables": variables or {}}).encode(),
            {
                "content-type": "application/json",
                "authorization": f"Bearer {self.token}",
                **(headers or {}),
            },
        )
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {"unparsed": body.decode(errors="replace")}
        return status, answer_headers, answer


def gateway_env(otlp_endpoint, database_url, secret, **extra):
    """The environment the brief names, on a clean base: no inherited OTEL_* or
    CREDIT_GATEWAY_* setting, no proxy (traffic stays on loopback)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "CREDIT_GATEWAY_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env.update(
        DATABASE_URL=database_url,
        CREDIT_GATEWAY_SECRET=secret,
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_endpoint,
        OTEL_SERVICE_NAME=SERVICE_NAME,
        OTEL_BSP_SCHEDULE_DELAY="200",
        CREDIT_GATEWAY_WEBHOOK_ALLOW_HOSTS="127.0.0.1",
        CREDIT_GATEWAY_LOG_FORMAT="json",
        RUST_LOG="info",
        CREDIT_GATEWAY_SWEEPER="false",
        NO_PROXY="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


def new_traceparent():
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, parent_id, f"00-{trace_id}-{parent_id}-01"


# ---------------------------------------------------------------------------------------
# Span trees


def short(value, limit=110):
    text = value if isinstance(value, str) else json.dumps(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tree_lines(spans, caller_parent=None):
    """The spans of one trace as an indented tree (children by start time)."""
    by_id = {s.span_id: s for s in spans}
    children = {}
    roots = []
    for s in sorted(spans, key=lambda s: s.start):
        if s.parent_span_id and s.parent_span_id in by_id:
            children.setdefault(s.parent_span_id, []).append(s)
        else:
            roots.append(s)
    lines = []

    def walk(s, depth):
        pad = "    " * depth
        ms = (s.end - s.start) / 1e6
        if s.parent_span_id and s.parent_span_id not in by_id:
            parent = (
                f"parent {s.parent_span_id} (the caller's span, from traceparent)"
                if s.parent_span_id == caller_parent
                else f"parent {s.parent_span_id} (not exported)"
            )
        elif s.parent_span_id:
            parent = f"parent {s.parent_span_id}"
        else:
            parent = "root"
        lines.append(f"{pad}{s.name}  [{s.kind}]  span {s.span_id}  {parent}  {ms:.2f} ms")
        for key, value in s.attributes.items():
            if key in ("db.query.text",):
                value = short(value)
            lines.append(f"{pad}    {key} = {value!r}" if isinstance(value, str)
                         else f"{pad}    {key} = {value}")
        for name, attrs in s.events:
            lines.append(f"{pad}    event {name!r} {attrs}")
        for child in children.get(s.span_id, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return lines


def ancestors(span, by_id):
    """The exported ancestors of `span`, nearest first."""
    chain = []
    current = span
    seen = set()
    while current.parent_span_id and current.parent_span_id in by_id:
        if current.parent_span_id in seen:
            break
        seen.add(current.parent_span_id)
        current = by_id[current.parent_span_id]
        chain.append(current)
    return chain


def dump(spans, title):
    return title + "\n" + ("\n".join("  " + s.describe() for s in spans) or "  (none)")


# ---------------------------------------------------------------------------------------
# The tests


class Traces(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not BIN or not os.access(BIN, os.X_OK):
            raise RuntimeError(f"CG_BIN={BIN!r} is not an executable")
        cls.workdir = tempfile.mkdtemp(prefix="cg-otel-")
        cls.secret = secrets.token_hex(32)
        cls.list_open = None  # test 2's request: trace id, parent, request id, answer
        cls.others = []
        try:
            cls.otlp = OtlpReceiver("main")
            cls.hooks = WebhookReceiver()
            cls.gateway = Gateway(
                "gateway", cls.workdir, gateway_env(cls.otlp.url, DATABASE_URL, cls.secret)
            )
        except BaseException:
            # unittest skips tearDownClass when setUpClass fails.
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for gateway in [getattr(cls, "gateway", None), *getattr(cls, "others", [])]:
            if gateway:
                gateway.stop()
        for receiver in (getattr(cls, "otlp", None), getattr(cls, "hooks", None)):
            if receiver:
                receiver.close()
        if getattr(cls, "otlp", None) and cls.otlp.problems:
            log(f"OTLP receiver problems: {cls.otlp.problems}")
        subprocess.run(["rm", "-rf", cls.workdir], check=False)

    # helpers

    def open_invoices(self, count):
        status, _, answer = self.gateway.graphql(
            "{ invoices(status: OPEN, first: 20, orderBy: {field: DUE_DATE, direction: DESC}) "
            "{ nodes { id status version } } }"
        )
        self.assertEqual(status, 200, f"listing open invoices: {answer}")
        nodes = answer["data"]["invoices"]["nodes"]
        self.assertGreaterEqual(len(nodes), count, f"the demo has too few open invoices: {nodes}")
        return nodes

    def ensure_list_open(self):
        """Test 2's request, made once (tests 1 and 3 read its outcome too)."""
        if Traces.list_open is not None:
            return Traces.list_open
        trace_id, parent_id, traceparent = new_traceparent()
        request_id = f"otel-ci-list-open-{secrets.token_hex(4)}"
        status, headers, answer = self.gateway.graphql(
            LIST_OPEN,
            {"id": SECRET_VALUE},
            {"traceparent": traceparent, "x-request-id": request_id},
        )

        def complete(spans):
            mine = [s for s in spans if s.trace_id == trace_id]
            server = [s for s in mine if s.kind == "SERVER"]
            return server and any(s.name == "SELECT" for s in mine)

        self.otlp.wait_for(complete)
        time.sleep(0.5)  # a batch in flight when the server span arrived
        Traces.list_open = {
            "trace_id": trace_id,
            "parent_id": parent_id,
            "request_id": request_id,
            "status": status,
            "headers": headers,
            "answer": answer,
        }
        return Traces.list_open

    # 1

    def test_1_resource_names_the_service(self):
        self.ensure_list_open()
        spans, _ = self.otlp.wait_for(lambda spans: spans)
        self.assertTrue(spans, f"no span exported to {self.otlp.url} within {SPANS_WAIT} s")
        self.assertEqual(self.otlp.problems, [], "the OTLP receiver refused exports")
        names = {s.resource.get("service.name") for s in spans}
        self.assertEqual(
            names,
            {SERVICE_NAME},
            f"every exported resource must have service.name={SERVICE_NAME!r}; "
            f"resources seen: {sorted({json.dumps(s.resource, sort_keys=True) for s in spans})}",
        )
        log(f"\n[{BACKEND}] resource: {spans[0].resource}; scope: {spans[0].scope!r}; "
            f"{len(self.otlp.requests)} export requests, "
            f"content-types {sorted({r[2] for r in self.otlp.requests})}, "
            f"encodings {sorted({r[3] or 'identity' for r in self.otlp.requests})}")

    # 2

    def test_2_a_graphql_request_is_one_tree_under_the_callers_span(self):
        req = self.ensure_list_open()
        trace_id, parent_id, request_id = req["trace_id"], req["parent_id"], req["request_id"]
        self.assertEqual(req["status"], 200, f"the query was answered {req['status']}: {req['answer']}")
        self.assertIn("data", req["answer"], f"the query has no data: {req['answer']}")
        mine = self.otlp.in_trace(trace_id)
        log(f"\n[{BACKEND}] test 2: the trace of `query ListOpen` (trace id {trace_id}, "
            f"sent with traceparent parent span {parent_id}, x-request-id {request_id}); "
            f"answer errors: {[e.get('extensions', {}).get('code') for e in req['answer'].get('errors', [])]}")
        log("\n".join("    " + line for line in tree_lines(mine, parent_id)) or "    (no span)")
        everything = dump(mine, f"spans exported with trace id {trace_id}:")

        servers = [s for s in mine if s.kind == "SERVER"]
        self.assertEqual(len(servers), 1, f"expected one SERVER span in the trace\n{everything}")
        server = servers[0]
        self.assertEqual(server.name, "POST /graphql", f"the SERVER span's name\n{everything}")
        self.assertEqual(
            server.parent_span_id, parent_id,
            f"the SERVER span's parent must be the span id sent in traceparent\n{everything}",
        )
        self.assertEqual(server.attributes.get("request_id"), request_id,
                         f"the SERVER span's request_id\n{everything}")
        self.assertEqual(server.attributes.get("http.response.status_code"), 200,
                         f"the SERVER span's http.response.status_code (an int)\n{everything}")

        operations = [s for s in mine if s.name == "query ListOpen"]
        self.assertEqual(len(operations), 1, f"expected one span 'query ListOpen'\n{everything}")
        operation = operations[0]
        self.assertEqual(operation.parent_span_id, server.span_id,
                         f"'query ListOpen' must be a child of the SERVER span\n{everything}")

        statements = [s for s in mine if "db.system.name" in s.attributes or "db.query.text" in s.attributes]
        selects = [s for s in statements if s.name == "SELECT" and s.kind == "CLIENT"]
        self.assertTrue(selects, f"no CLIENT span named SELECT in the trace\n{everything}")
        by_id = {s.span_id: s for s in mine}
        for s in statements:
            self.assertEqual(s.kind, "CLIENT", f"a SQL span's kind: {s.describe()}")
            self.assertEqual(s.attributes.get("db.system.name"), DB_SYSTEM,
                             f"db.system.name on {BACKEND}: {s.describe()}")
            self.assertTrue(str(s.attributes.get("db.query.text", "")).strip(),
                            f"db.query.text is empty: {s.describe()}")
            chain = {a.span_id for a in ancestors(s, by_id)}
            self.assertTrue(
                chain & {operation.span_id, server.span_id},
                f"a SQL span whose ancestors reach neither 'query ListOpen' nor the SERVER span: "
                f"{s.describe()}\n{everything}",
            )

        # Nothing exported anywhere (any span, any trace, resource, events) carries the
        # variable's value: checked on the raw protobuf bytes and on the decoded values.
        leaks = [s.describe() for s in self.otlp.snapshot() if SECRET_VALUE in s.describe()]
        self.assertEqual(leaks, [], f"{SECRET_VALUE} appears in exported spans")
        raw = [i for i, body in enumerate(self.otlp.raw_bodies()) if SECRET_VALUE.encode() in body]
        self.assertEqual(raw, [], f"{SECRET_VALUE} appears in the bytes of export requests {raw}")

        # Not asserted (the brief asks for the in-trace statements only): SQL spans that
        # started during the request but were exported outside its trace.
        lost = [
            s for s in self.otlp.snapshot()
            if s.trace_id != trace_id and "db.query.text" in s.attributes
            and server.start <= s.start <= server.end
        ]
        log(f"    ({len(statements)} SQL spans in the trace; {len(lost)} other SQL spans started "
            f"while the request ran, outside its trace"
            + (": " + "; ".join(f"{s.name} parent={s.parent_span_id or 'root'} "
                                f"{short(s.attributes.get('db.query.text'), 80)}" for s in lost)
               if lost else "") + ")")

    # 3

    def test_3_the_served_log_line_names_the_request_and_its_trace(self):
        req = self.ensure_list_open()
        deadline = time.monotonic() + 5
        while True:
            served = [
                line for line in self.gateway.json_logs()
                if (line.get("message") == "served" or line.get("fields", {}).get("message") == "served")
                and json.dumps(line).find(req["request_id"]) >= 0
            ]
            if served or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        near = [line for line in self.gateway.stderr if req["request_id"] in line]
        self.assertEqual(len(served), 1,
                         f"expected one JSON 'served' line naming {req['request_id']}; lines naming it:\n"
                         + "\n".join(near))
        line = served[0]
        log(f"\n[{BACKEND}] test 3: the 'served' log line:\n    {json.dumps(line)}")
        span = line.get("span")
        self.assertIsInstance(span, dict, f"the 'served' line has no 'span' object: {line}")
        self.assertEqual(span.get("request_id"), req["request_id"],
                         f"span.request_id of the 'served' line: {line}")
        self.assertEqual(span.get("trace_id"), req["trace_id"],
                         f"span.trace_id of the 'served' line must be the trace id sent: {line}")

    # 4

    def test_4_a_webhook_delivery_sends_its_span_as_traceparent(self):
        status, _, answer = self.gateway.graphql(
            "mutation($url: String!) { createWebhookEndpoint(input: {url: $url, "
            "eventTypes: [\"invoice.paid\"], description: \"otel ci\"}) "
            "{ webhookEndpoint { id url enabled } secret userErrors { field message code } } }",
            {"url": self.hooks.url},
        )
        payload = (answer.get("data") or {}).get("createWebhookEndpoint") or {}
        self.assertEqual(status, 200, f"createWebhookEndpoint: {answer}")
        self.assertFalse(answer.get("errors") or payload.get("userErrors"), f"createWebhookEndpoint: {answer}")
        endpoint_id = payload["webhookEndpoint"]["id"]

        invoice = self.open_invoices(2)[0]["id"]
        trace_id, parent_id, traceparent = new_traceparent()
        status, _, answer = self.gateway.graphql(
            "mutation Pay($id: ID!) { markInvoicePaid(input: {id: $id}) "
            "{ invoice { id status } userErrors { field message code } } }",
            {"id": invoice},
            {"traceparent": traceparent, "x-request-id": f"otel-ci-pay-{secrets.token_hex(4)}"},
        )
        paid = ((answer.get("data") or {}).get("markInvoicePaid") or {}).get("invoice") or {}
        self.assertEqual(paid.get("status"), "PAID", f"markInvoicePaid({invoice}): {answer}")

        def delivered():
            for r in self.hooks.snapshot():
                try:
                    body = json.loads(r["body"])
                except ValueError:
                    continue
                if body.get("type") == "invoice.paid" and \
                        (body.get("data", {}).get("invoice") or {}).get("id") == invoice:
                    return r
            return None

        deadline = time.monotonic() + 20
        delivery = delivered()
        while delivery is None and time.monotonic() < deadline:
            time.sleep(0.1)
            delivery = delivered()
        self.assertIsNotNone(
            delivery,
            f"no invoice.paid delivery for {invoice} reached the webhook receiver in 20 s; "
            f"received: {[(r['headers'].get('webhook-id'), r['body'][:200]) for r in self.hooks.snapshot()]}",
        )
        header = delivery["headers"].get("traceparent")
        self.assertIsNotNone(header, f"the delivery has no traceparent header: {delivery['headers']}")
        parsed = TRACEPARENT.match(header)
        self.assertIsNotNone(parsed, f"traceparent {header!r} is not W3C version-00 format")
        version, sent_trace, sent_span, flags = parsed.groups()
        self.assertEqual(version, "00", f"traceparent version: {header}")
        self.assertNotEqual(sent_trace, "0" * 32, f"an all-zero trace id: {header}")
        self.assertNotEqual(sent_span, "0" * 16, f"an all-zero span id: {header}")

        found, _ = self.otlp.wait_for(
            lambda spans: [s for s in spans if s.span_id == sent_span and s.trace_id == sent_trace]
        )
        in_trace = self.otlp.in_trace(sent_trace)
        self.assertTrue(
            found,
            f"no span exported with the delivery's span id {sent_span} and trace id {sent_trace} "
            f"(traceparent {header})\n{dump(in_trace, 'spans in that trace:')}\n"
            + dump([s for s in self.otlp.snapshot() if s.name == 'webhook delivery'], "'webhook delivery' spans:"),
        )
        span = found[0]
        log(f"\n[{BACKEND}] test 4: delivery {delivery['headers'].get('webhook-id')} sent "
            f"traceparent {header}; the payment's request had trace id {trace_id}")
        log("\n".join("    " + line for line in tree_lines(in_trace)))
        same = sent_trace == trace_id
        log(f"    the delivery's trace is {'the payment request’s trace' if same else 'its own (not the payment request’s)'}"
            f"; its span's parent: {span.parent_span_id or 'none (a root span)'}; flags {flags}")
        self.assertEqual(span.name, "webhook delivery", f"the span named by traceparent: {span.describe()}")
        self.assertEqual(span.kind, "CLIENT", f"the delivery span's kind: {span.describe()}")
        self.assertEqual(span.attributes.get("webhook.endpoint"), endpoint_id, span.describe())
        self.assertEqual(span.attributes.get("webhook.id"), delivery["headers"].get("webhook-id"), span.describe())
        self.assertEqual(span.attributes.get("webhook.attempt"), 1, span.describe())
        self.assertEqual(span.attributes.get("http.response.status_code"), 200, span.describe())

    # 5

    def test_5_a_csv_import_exports_its_batches_in_the_requests_trace(self):
        invoice = self.open_invoices(2)[-1]["id"]
        status, _, body = self.gateway.request(
            "GET", "/export/invoices.csv?status=OPEN", headers={"authorization": f"Bearer {self.gateway.token}"}
        )
        self.assertEqual(status, 200, f"GET /export/invoices.csv: {status} {body[:300]!r}")
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        header, rows = rows[0], rows[1:]
        self.assertIn("Invoice ID", header, f"the export's header: {header}")
        self.assertIn("Status", header, f"the export's header: {header}")
        row = next((r for r in rows if r[header.index("Invoice ID")] == invoice), None)
        self.assertIsNotNone(row, f"{invoice} is not in the export of open invoices")
        row[header.index("Status")] = "Paid"
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows([header, row])
        file = out.getvalue().encode("utf-8")

        query = (
            "mutation Settle($f: Upload!) { importInvoicesCsv(input: {file: $f}) { import "
            "{ id state rowsRead rowsChanged rowsRefused errors { line column code message } } "
            "userErrors { code message } } }"
        )
        boundary = "cg-otel-" + uuid.uuid4().hex
        parts = [
            ("operations", None, json.dumps({"query": query, "variables": {"f": None}}).encode()),
            ("map", None, json.dumps({"0": ["variables.f"]}).encode()),
            ("0", "settle.csv", file),
        ]
        data = b""
        for name, filename, content in parts:
            data += f"--{boundary}\r\n".encode()
            disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
            data += f"Content-Disposition: {disposition}\r\n".encode()
            if filename:
                data += b"Content-Type: text/csv\r\n"
            data += b"\r\n" + content + b"\r\n"
        data += f"--{boundary}--\r\n".encode()
        trace_id, parent_id, traceparent = new_traceparent()
        status, _, body = self.gateway.request(
            "POST", "/graphql", data,
            {
                "content-type": f"multipart/form-data; boundary={boundary}",
                "authorization": f"Bearer {self.gateway.token}",
                "apollo-require-preflight": "true",
                "traceparent": traceparent,
                "x-request-id": f"otel-ci-import-{secrets.token_hex(4)}",
            },
        )
        answer = json.loads(body)
        self.assertEqual(status, 200, f"importInvoicesCsv: {answer}")
        payload = (answer.get("data") or {}).get("importInvoicesCsv") or {}
        imported = payload.get("import") or {}
        self.assertEqual(imported.get("state"), "APPLIED", f"importInvoicesCsv: {answer}")
        self.assertEqual(imported.get("rowsChanged"), 1, f"importInvoicesCsv: {answer}")

        found, _ = self.otlp.wait_for(
            lambda spans: [s for s in spans if s.trace_id == trace_id and s.name == "import batch"]
            and [s for s in spans if s.trace_id == trace_id and s.kind == "SERVER"]
        )
        time.sleep(0.5)
        mine = self.otlp.in_trace(trace_id)
        log(f"\n[{BACKEND}] test 5: the import's trace (trace id {trace_id}, import {imported.get('id')})")
        log("\n".join("    " + line for line in tree_lines(mine, parent_id)) or "    (no span)")
        batches = [s for s in mine if s.name == "import batch"]
        self.assertTrue(batches, dump(mine, f"no 'import batch' span in trace {trace_id}; its spans:")
                        + "\n" + dump([s for s in self.otlp.snapshot() if s.name == "import batch"],
                                      "'import batch' spans anywhere:"))
        for batch in batches:
            self.assertEqual(batch.attributes.get("import.id"), imported.get("id"), batch.describe())
            rows = batch.attributes.get("import.rows")
            self.assertIsInstance(rows, int, f"import.rows must be an int: {batch.describe()}")
        self.assertGreaterEqual(sum(b.attributes["import.rows"] for b in batches), 1,
                                dump(batches, "import.rows of the batches:"))

    # 6

    def test_6_with_the_sdk_disabled_nothing_is_exported(self):
        quiet = OtlpReceiver("disabled")
        try:
            gateway = Gateway(
                "disabled gateway",
                self.workdir,
                gateway_env(
                    quiet.url, DATABASE_URL, self.secret,
                    OTEL_SDK_DISABLED="true",
                    # The first gateway delivers the webhooks; this one only answers.
                    CREDIT_GATEWAY_WEBHOOKS="false",
                ),
            )
            Traces.others.append(gateway)
            trace_id, _, traceparent = new_traceparent()
            request_id = f"otel-ci-disabled-{secrets.token_hex(4)}"
            status, _, answer = gateway.graphql(
                LIST_OPEN, {"id": SECRET_VALUE}, {"traceparent": traceparent, "x-request-id": request_id}
            )
            self.assertEqual(status, 200, f"the disabled gateway answered {status}: {answer}")
            self.assertIn("data", answer, f"the disabled gateway's answer: {answer}")
            time.sleep(QUIET_WAIT)
            self.assertEqual(
                quiet.requests, [],
                f"the gateway with OTEL_SDK_DISABLED=true sent {len(quiet.requests)} export requests "
                f"to its endpoint\n{dump(quiet.snapshot(), 'spans:')}",
            )
            self.assertEqual(self.otlp.in_trace(trace_id), [],
                             "spans of the disabled gateway's request reached the main receiver")
            served = [line for line in gateway.json_logs()
                      if line.get("message") == "served" and request_id in json.dumps(line)]
            log(f"\n[{BACKEND}] test 6: the disabled gateway answered 200; nothing reached its "
                f"endpoint in {QUIET_WAIT:.0f} s; its 'served' line: "
                f"{json.dumps(served[0]) if served else '(none found)'}")
        finally:
            quiet.close()

    # 7

    def subscribe_until_change(self, after):
        """A multipart/mixed subscription (as Apollo Client's HttpLink asks for one) read
        from a raw socket until its first change; the change's payload. (Each part is
        one chunk of the chunked body, so a part's JSON is one line of the raw bytes.)"""
        where = urlsplit(self.gateway.base)
        query = ("subscription($after: String) { invoiceStatusChanged(after: $after) "
                 "{ cursor status invoice { id } } }")
        body = json.dumps({"query": query, "variables": {"after": after}}).encode()
        head = (
            "POST /graphql HTTP/1.1\r\n"
            f"Host: {where.netloc}\r\n"
            "Content-Type: application/json\r\n"
            'Accept: multipart/mixed;boundary="graphql";subscriptionSpec="1.0",application/json\r\n'
            f"Authorization: Bearer {self.gateway.token}\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        with socket.create_connection((where.hostname, where.port), timeout=20) as connection:
            connection.sendall(head + body)
            received = b""
            while True:
                chunk = connection.recv(65536)
                self.assertTrue(chunk, f"the subscription ended before a change came: {received!r}")
                received += chunk
                for line in received.split(b"\r\n"):
                    if line.startswith(b'{"payload"') and b"invoiceStatusChanged" in line:
                        return json.loads(line)["payload"]["data"]["invoiceStatusChanged"]

    def test_7_a_subscription_resumed_from_a_cursor_exports_its_catch_up(self):
        first, second = [node["id"] for node in self.open_invoices(2)[:2]]
        pay = ("mutation Pay($id: ID!) { markInvoicePaid(input: {id: $id}) "
               "{ invoice { id status } } }")
        changed = {}

        def listen():
            changed["change"] = self.subscribe_until_change(None)

        listener = threading.Thread(target=listen)
        listener.start()
        time.sleep(1.0)  # subscribed before the change
        self.gateway.graphql(pay, {"id": first})
        listener.join(30)
        cursor = changed["change"]["cursor"]
        self.gateway.graphql(pay, {"id": second})
        # Resumed after the first change: the second is read from the table (catch-up).
        caught_up = self.subscribe_until_change(cursor)
        self.assertEqual(caught_up["invoice"]["id"], second, caught_up)
        found, spans = self.otlp.wait_for(
            lambda spans: [s for s in spans if s.name == "subscription catch-up"]
        )
        catch_ups = [s for s in spans if s.name == "subscription catch-up"]
        self.assertTrue(catch_ups, "no 'subscription catch-up' span was exported")
        log(f"\n[{BACKEND}] test 7: {len(catch_ups)} 'subscription catch-up' span(s); "
            + "; ".join(s.describe() for s in catch_ups[:2]))


if __name__ == "__main__":
    log(f"otel: {BACKEND} ({DATABASE_URL.split('?')[0]}), binary {BIN}")
    unittest.main(verbosity=2)
