#!/usr/bin/env python3
"""The load of `benches/soak.sh`: one process, Python 3 standard library only (asyncio,
raw sockets for HTTP/1.1 and WebSocket), against one gateway on 127.0.0.1.

For DURATION seconds, all at once:
  - queries: admin and customer loops listing a page of OPEN invoices with their account
    and order (`totalCount` included), each loop at a steady rate;
  - mutations: `setPaymentLink` and `changeInvoice` (observation) on random OPEN invoices;
  - status flips: a few invoices marked paid and reopened in turn (`markInvoicePaid`,
    `changeInvoice(status: OPEN, reason)`), which is what subscribers hear;
  - subscriptions: WebSocket clients (`graphql-transport-ws`) on `invoiceStatusChanged`
    from a cursor read before the load, answering the server's pings;
  - an import: every IMPORT_EVERY seconds an export of the OPEN invoices
    (GET /export/invoices.csv) goes back in through the multipart `importInvoicesCsv`
    (`dryRun: true` two times out of three; otherwise applied, every row's observation
    changed, `applyValidRows: true` since the loops above edit rows meanwhile);
  - hostile connections held open all the time: idle ones (send nothing), slow headers
    (a byte every TRICKLE seconds) and slow bodies (headers, then a body byte every
    TRICKLE seconds); each one the server closes is opened again.

Every second it records the gateway's resident memory and open descriptors (from
/proc/PID) in a CSV. At the end it checks that every healthy request was answered
(2xx, no GraphQL errors, no unexpected userErrors, within REQUEST_TIMEOUT) and that
every subscriber heard every status change exactly once, prints a summary and exits 1
on any failure, or if the gateway died.

Usage: soak.py --port P --pid PID --duration S --admin-token T --customer-token T
               --customer-account ID --open-csv FILE --samples FILE
"""

import argparse
import asyncio
import base64
import csv
import io
import json
import os
import random
import resource
import statistics
import struct
import sys
import time
from collections import Counter, defaultdict

HOST = "127.0.0.1"

LIST_QUERY = (
    "query SoakList { invoices(first: 50, status: OPEN) { totalCount "
    "nodes { id value dueDate account { name } order { id } } } }"
)
SET_LINK = (
    "mutation SoakLink($id: ID!, $link: String) { setPaymentLink(input: {id: $id, paymentLink: $link}) "
    "{ invoice { id paymentLink version } userErrors { field message code } } }"
)
SET_OBSERVATION = (
    "mutation SoakNote($id: ID!, $note: String) { changeInvoice(input: {id: $id, observation: $note}) "
    "{ invoice { id observation version } userErrors { field message code } } }"
)
MARK_PAID = (
    "mutation SoakPay($id: ID!) { markInvoicePaid(input: {id: $id}) "
    "{ invoice { id status version } userErrors { field message code } } }"
)
REOPEN = (
    "mutation SoakReopen($id: ID!) { changeInvoice(input: {id: $id, status: OPEN, reason: \"soak: paid by mistake\"}) "
    "{ invoice { id status version } userErrors { field message code } } }"
)
CURSOR = "query SoakCursor { statusChangeCursor }"
SUBSCRIPTION = (
    "subscription SoakChanges($after: String) { invoiceStatusChanged(after: $after) { "
    "cursor previousStatus status occurredAt source "
    "invoice { id status version paymentLink account { name } } } }"
)
IMPORT = (
    "mutation SoakImport($f: Upload!, $dry: Boolean!) { importInvoicesCsv(input: {file: $f, dryRun: $dry, applyValidRows: true}) "
    "{ import { id state rowsTotal rowsRead rowsChanged rowsUnchanged rowsRefused problem errors(first: 1000) { line column code message } } "
    "userErrors { code message } } }"
)
IMPORT_STATE = (
    "query SoakImportState($id: ID!) { invoiceImport(id: $id) { id state rowsTotal rowsRead rowsChanged "
    "rowsUnchanged rowsRefused problem errors(first: 1000) { line column code message } } }"
)


def env_num(name, default, kind=float):
    value = os.environ.get(name)
    return kind(value) if value not in (None, "") else default


# Load shape, overridable from the environment (see soak.sh).
ADMIN_QUERY_LOOPS = env_num("ADMIN_QUERY_LOOPS", 4, int)
CUSTOMER_QUERY_LOOPS = env_num("CUSTOMER_QUERY_LOOPS", 2, int)
QUERY_RATE = env_num("QUERY_RATE", 5.0)  # per loop, per second
MUTATION_LOOPS = env_num("MUTATION_LOOPS", 2, int)
MUTATION_RATE = env_num("MUTATION_RATE", 4.0)  # per loop, per second
FLIP_INVOICES = env_num("FLIP_INVOICES", 4, int)
FLIP_EVERY = env_num("FLIP_EVERY", 2.0)  # seconds between two flips of one invoice
SUBSCRIBERS = env_num("SUBSCRIBERS", 20, int)
CUSTOMER_SUBSCRIBERS = env_num("CUSTOMER_SUBSCRIBERS", 4, int)
IMPORT_EVERY = env_num("IMPORT_EVERY", 60.0)
IMPORT_FIRST_AT = env_num("IMPORT_FIRST_AT", 3.0)
HOSTILE = env_num("HOSTILE", 200, int)  # half idle, a quarter slow headers, a quarter slow bodies
TRICKLE = env_num("TRICKLE", 5.0)
REQUEST_TIMEOUT = env_num("REQUEST_TIMEOUT", 30.0)
IMPORT_TIMEOUT = env_num("IMPORT_TIMEOUT", 300.0)
# A kept-alive connection idle this long is not reused: the gateway closes idle ones at
# its header timeout (10 s), and a request racing that close is the client's fault.
REUSE_IDLE = env_num("REUSE_IDLE", 5.0)
DRAIN = env_num("DRAIN", 30.0)  # seconds subscribers get to hear the last changes


class Stats:
    def __init__(self):
        self.sent = Counter()
        self.ok = Counter()
        self.failed = Counter()
        self.latency = defaultdict(list)  # kind -> seconds
        self.failures = []  # (t, kind, what), the first ones
        self.failure_kinds = Counter()
        self.user_errors = Counter()  # code -> count (expected ones too)
        self.events = 0
        self.ws_connects = 0
        self.ws_unexpected_closes = Counter()
        self.ws_errors = 0
        self.ws_pings = 0
        self.flips_ok = 0
        self.flips_customer_ok = 0
        self.imports = []  # dicts
        self.hostile_opened = Counter()
        self.hostile_closed = Counter()  # kind -> closed by the server
        self.hostile_lifetime = defaultdict(list)
        self.hostile_answers = Counter()  # (kind, status line) of what the server answered
        self.hostile_connect_errors = Counter()
        self.hostile_open = 0
        self.healthy_ok_total = 0

    def fail(self, kind, what, t0):
        self.failed[kind] += 1
        self.failure_kinds[(kind, what.split(":")[0][:80])] += 1
        if len(self.failures) < 30:
            self.failures.append((round(time.monotonic() - t0, 1), kind, what[:300]))


class Done(Exception):
    pass


# ---------------------------------------------------------------- HTTP/1.1 client


class HttpError(Exception):
    pass


async def read_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HttpError(f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def read_body(reader, headers):
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    return await reader.read()  # until the server closes


class Http:
    """One kept-alive connection, one request at a time."""

    def __init__(self, port):
        self.port = port
        self.reader = self.writer = None
        self.last_used = 0.0

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method, path, headers=None, body=b"", timeout=REQUEST_TIMEOUT):
        try:
            return await asyncio.wait_for(self._request(method, path, headers or {}, body), timeout)
        except BaseException:
            self.close()
            raise

    async def _request(self, method, path, headers, body):
        if self.writer is None or time.monotonic() - self.last_used > REUSE_IDLE:
            self.close()
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port, limit=1 << 20)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        status, response_headers = await read_head(self.reader)
        data = await read_body(self.reader, response_headers)
        if response_headers.get("connection", "").lower() == "close":
            self.close()
        self.last_used = time.monotonic()
        return status, response_headers, data


class Soak:
    def __init__(self, args):
        self.args = args
        self.port = args.port
        self.stats = Stats()
        self.t0 = time.monotonic()
        self.stopping = asyncio.Event()  # the load's time is up
        self.died = False
        self.admin = {"authorization": f"Bearer {args.admin_token}"}
        self.customer = {"authorization": f"Bearer {args.customer_token}"}
        self.samples = []
        self.open_rows = []  # (invoice id, account id) of the OPEN invoices at start

    def now(self):
        return time.monotonic() - self.t0

    # ------------------------------------------------------------ GraphQL over HTTP

    async def graphql(self, http, kind, auth, query, variables=None, check=None):
        """One healthy request; counted, timed, and judged: True when answered well."""
        st = self.stats
        st.sent[kind] += 1
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        headers = dict(auth)
        headers["content-type"] = "application/json"
        started = time.monotonic()
        try:
            status, _, data = await http.request("POST", "/graphql", headers, body)
        except asyncio.CancelledError:
            raise
        except asyncio.TimeoutError:
            st.fail(kind, f"timeout: no answer within {REQUEST_TIMEOUT:.0f} s", self.t0)
            return None
        except Exception as e:  # transport
            st.fail(kind, f"transport: {type(e).__name__} {e}", self.t0)
            return None
        st.latency[kind].append(time.monotonic() - started)
        if not 200 <= status < 300:
            st.fail(kind, f"http {status}: {data[:200]!r}", self.t0)
            return None
        try:
            doc = json.loads(data)
        except ValueError:
            st.fail(kind, f"not JSON: {data[:200]!r}", self.t0)
            return None
        if doc.get("errors"):
            codes = ",".join(str((e.get("extensions") or {}).get("code")) for e in doc["errors"])
            st.fail(kind, f"graphql errors {codes}: {doc['errors'][0].get('message', '')}", self.t0)
            return None
        if check is not None:
            problem = check(doc["data"])
            if problem:
                st.fail(kind, problem, self.t0)
                return None
        st.ok[kind] += 1
        st.healthy_ok_total += 1
        return doc["data"]

    def user_errors(self, field):
        def check(data):
            payload = data.get(field) or {}
            errors = payload.get("userErrors") or []
            for e in errors:
                self.stats.user_errors[e.get("code")] += 1
            if errors:
                e = errors[0]
                return f"userErrors {e.get('code')}: {e.get('message')}"
            if not payload.get("invoice"):
                return "no invoice in the payload"
            return None

        return check

    # ------------------------------------------------------------ steady loops

    async def paced(self, rate, step):
        """Calls step() `rate` times a second (never in bursts to catch up) until stopping."""
        interval = 1.0 / rate
        next_at = time.monotonic() + random.uniform(0, interval)
        while not self.stopping.is_set():
            delay = next_at - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(self.stopping.wait(), delay)
                    return
                except asyncio.TimeoutError:
                    pass
            await step()
            next_at = max(next_at + interval, time.monotonic())

    async def query_loop(self, auth, kind):
        http = Http(self.port)

        def check(data):
            page = data.get("invoices")
            if page is None or page.get("totalCount") is None:
                return "no invoices page"
            return None

        await self.paced(QUERY_RATE, lambda: self.graphql(http, kind, auth, LIST_QUERY, check=check))
        http.close()

    async def mutation_loop(self, targets):
        http = Http(self.port)
        n = 0

        async def step():
            nonlocal n
            n += 1
            invoice = random.choice(targets)
            if n % 2:
                link = f"https://pay.example.com/soak/{invoice}/{n}"
                await self.graphql(http, "mutation:setPaymentLink", self.admin, SET_LINK,
                                   {"id": invoice, "link": link}, self.user_errors("setPaymentLink"))
            else:
                note = f"soak edit {n} at {self.now():.1f} s"
                await self.graphql(http, "mutation:changeInvoice", self.admin, SET_OBSERVATION,
                                   {"id": invoice, "note": note}, self.user_errors("changeInvoice"))

        await self.paced(MUTATION_RATE, step)
        http.close()

    async def flip_loop(self, invoice, customers):
        """Pays and reopens one invoice in turn: each success is one status change that
        every admin subscriber (and the account's customers) must hear once."""
        http = Http(self.port)
        paid = False

        async def step():
            nonlocal paid
            if not paid:
                data = await self.graphql(http, "mutation:markInvoicePaid", self.admin, MARK_PAID,
                                          {"id": invoice}, self.user_errors("markInvoicePaid"))
            else:
                data = await self.graphql(http, "mutation:reopen", self.admin, REOPEN,
                                          {"id": invoice}, self.user_errors("changeInvoice"))
            if data is not None:
                paid = not paid
                self.stats.flips_ok += 1
                if customers:
                    self.stats.flips_customer_ok += 1
            else:
                # Where it stands is unknown now: stop flipping it, so the count of
                # changes the subscribers must hear stays exact.
                raise Done()

        try:
            await self.paced(1.0 / FLIP_EVERY, step)
        except Done:
            pass
        # Leave it open as it was.
        if paid:
            if await self.graphql(http, "mutation:reopen", self.admin, REOPEN,
                                  {"id": invoice}, self.user_errors("changeInvoice")) is not None:
                self.stats.flips_ok += 1
                if customers:
                    self.stats.flips_customer_ok += 1
        http.close()

    # ------------------------------------------------------------ CSV export and import

    async def import_loop(self):
        n = 0
        next_at = self.t0 + IMPORT_FIRST_AT
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), max(0.0, next_at - time.monotonic()))
                return
            except asyncio.TimeoutError:
                pass
            await self.export_import(n)
            n += 1
            next_at = max(next_at + IMPORT_EVERY, time.monotonic())

    async def export_import(self, n):
        st = self.stats
        http = Http(self.port)
        record = {"n": n, "at": round(self.now(), 1), "dry_run": n % 3 != 1}
        st.imports.append(record)
        # Export.
        st.sent["export"] += 1
        started = time.monotonic()
        try:
            status, headers, data = await http.request(
                "GET", "/export/invoices.csv?status=OPEN", dict(self.admin), timeout=IMPORT_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            st.fail("export", f"transport: {type(e).__name__} {e}", self.t0)
            record["state"] = "export failed"
            return
        finally:
            http.close()
        st.latency["export"].append(time.monotonic() - started)
        if status != 200 or "text/csv" not in headers.get("content-type", ""):
            st.fail("export", f"http {status} {headers.get('content-type')}: {data[:200]!r}", self.t0)
            record["state"] = "export failed"
            return
        st.ok["export"] += 1
        st.healthy_ok_total += 1
        text = data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        record["rows"] = len(rows) - 1
        if not record["dry_run"]:
            # The spreadsheet step: a note on every row.
            header = rows[0]
            col = header.index("Observation")
            for row in rows[1:]:
                row[col] = f"soak import {n}"
            out = io.StringIO(newline="")
            csv.writer(out, lineterminator="\r\n").writerows(rows)
            data = b"\xef\xbb\xbf" + out.getvalue().encode()
        # Import, as a GraphQL multipart request.
        boundary = f"soak{random.getrandbits(64):016x}"
        operations = json.dumps({"query": IMPORT, "variables": {"f": None, "dry": record["dry_run"]}})
        body = b"".join([
            f'--{boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{operations}\r\n'.encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{{"0":["variables.f"]}}\r\n'.encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="0"; filename="soak-{n}.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n".encode(),
            data,
            f"\r\n--{boundary}--\r\n".encode(),
        ])
        headers = dict(self.admin)
        headers["content-type"] = f"multipart/form-data; boundary={boundary}"
        headers["apollo-require-preflight"] = "true"
        st.sent["import"] += 1
        started = time.monotonic()
        try:
            status, _, answer = await http.request("POST", "/graphql", headers, body, timeout=IMPORT_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            st.fail("import", f"transport: {type(e).__name__} {e}", self.t0)
            record["state"] = "transport failure"
            return
        finally:
            http.close()
        try:
            doc = json.loads(answer)
        except ValueError:
            doc = {}
        if status != 200 or doc.get("errors") or not doc.get("data"):
            st.fail("import", f"http {status}: {answer[:300]!r}", self.t0)
            record["state"] = f"http {status}"
            return
        payload = doc["data"]["importInvoicesCsv"]
        job = payload.get("import")
        if payload.get("userErrors") or job is None:
            st.fail("import", f"userErrors {payload.get('userErrors')}", self.t0)
            record["state"] = "refused"
            return
        http = Http(self.port)
        while job["state"] == "RUNNING" and time.monotonic() - started < IMPORT_TIMEOUT:
            await asyncio.sleep(1)
            data = await self.graphql(http, "import-poll", self.admin, IMPORT_STATE, {"id": job["id"]})
            if data and data.get("invoiceImport"):
                job = data["invoiceImport"]
        http.close()
        st.latency["import"].append(time.monotonic() - started)
        refused = Counter(e["code"] for e in job.get("errors") or [])
        record.update(state=job["state"], changed=job["rowsChanged"], unchanged=job["rowsUnchanged"],
                      refused=job["rowsRefused"], codes=dict(refused), seconds=round(time.monotonic() - started, 1))
        expected_state = "CHECKED" if record["dry_run"] else "APPLIED"
        # Rows edited by the loops between the export and the import are stale: those
        # are the only refusals expected.
        unexpected = {code: k for code, k in refused.items() if code != "VERSION_CONFLICT"}
        if job["state"] != expected_state or unexpected or job.get("problem"):
            st.fail("import", f"import {job['state']} (expected {expected_state}), refused {dict(refused)}, "
                              f"problem {job.get('problem')}", self.t0)
            return
        st.ok["import"] += 1
        st.healthy_ok_total += 1

    # ------------------------------------------------------------ subscriptions

    async def subscriber(self, i, token, cursor, got):
        """One graphql-transport-ws client; `got` collects the cursors it heard."""
        st = self.stats
        after = cursor
        while True:
            reader = writer = None
            try:
                reader, writer = await asyncio.open_connection(HOST, self.port, limit=1 << 20)
                key = base64.b64encode(os.urandom(16)).decode()
                writer.write((
                    f"GET /graphql/ws HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                    f"Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n").encode())
                status, _ = await asyncio.wait_for(read_head(reader), REQUEST_TIMEOUT)
                if status != 101:
                    raise HttpError(f"upgrade answered {status}")
                st.ws_connects += 1
                await ws_send(writer, {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
                subscribed = False
                while True:
                    op, data = await ws_read(reader)
                    if op == 0x9:  # a WebSocket-level ping
                        await ws_send_frame(writer, 0xA, data)
                        continue
                    if op == 0x8:
                        code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                        raise HttpError(f"closed by the server: {code} {data[2:].decode(errors='replace')}")
                    if op != 0x1:
                        continue
                    message = json.loads(data)
                    kind = message.get("type")
                    if kind == "connection_ack" and not subscribed:
                        await ws_send(writer, {"id": "1", "type": "subscribe", "payload": {
                            "query": SUBSCRIPTION, "variables": {"after": after}}})
                        subscribed = True
                    elif kind == "ping":
                        st.ws_pings += 1
                        await ws_send(writer, {"type": "pong"})
                    elif kind == "next":
                        payload = message.get("payload") or {}
                        if payload.get("errors"):
                            st.ws_errors += 1
                            st.fail("subscription", f"errors {payload['errors'][0]}", self.t0)
                            continue
                        change = payload["data"]["invoiceStatusChanged"]
                        after = change["cursor"]
                        got.append(after)
                        st.events += 1
                    elif kind in ("error", "complete"):
                        st.ws_errors += 1
                        raise HttpError(f"{kind}: {message.get('payload')}")
            except asyncio.CancelledError:
                if writer is not None:
                    try:
                        await asyncio.wait_for(ws_send_frame(writer, 0x8, struct.pack("!H", 1000)), 1)
                    except Exception:
                        pass
                    writer.close()
                raise
            except Exception as e:
                st.ws_unexpected_closes[f"{type(e).__name__}: {str(e)[:120]}"] += 1
                st.fail("subscription", f"{type(e).__name__} (subscriber {i}): {e}", self.t0)
                if writer is not None:
                    writer.close()
                await asyncio.sleep(1)  # and subscribe again from the last cursor

    # ------------------------------------------------------------ hostile connections

    async def hostile(self, kind):
        st = self.stats
        if kind == "slow-header":
            prefix = b""
            script = f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nX-Slow: ".encode()
        elif kind == "slow-body":
            prefix = (f"POST /graphql HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                      f"Content-Length: 100000\r\n\r\n").encode()
            script = b'{"query": "{ __typename }"'
        else:
            prefix = script = b""
        # Spread the first openings over one trickle period.
        await asyncio.sleep(random.uniform(0, TRICKLE))
        while True:
            try:
                reader, writer = await asyncio.open_connection(HOST, self.port)
            except OSError as e:
                st.hostile_connect_errors[f"{kind} {type(e).__name__}"] += 1
                await asyncio.sleep(1)
                continue
            st.hostile_opened[kind] += 1
            st.hostile_open += 1
            opened = time.monotonic()
            trickle = None
            try:
                if kind != "idle":
                    trickle = asyncio.ensure_future(self.trickle(writer, prefix, script))
                first = await reader.read(4096)
                lifetime = time.monotonic() - opened
                if first:
                    status = first.split(b"\r\n", 1)[0].decode("latin-1")
                    st.hostile_answers[(kind, status)] += 1
                    try:  # the rest of the answer, then the server's close
                        await asyncio.wait_for(reader.read(), 5)
                    except asyncio.TimeoutError:
                        st.hostile_answers[(kind, "answered, then not closed within 5 s")] += 1
                st.hostile_closed[kind] += 1
                st.hostile_lifetime[kind].append(lifetime)
            except (ConnectionError, OSError):
                st.hostile_closed[kind] += 1
                st.hostile_lifetime[kind].append(time.monotonic() - opened)
            finally:
                st.hostile_open -= 1
                if trickle is not None:
                    trickle.cancel()
                writer.close()

    async def trickle(self, writer, prefix, script):
        try:
            if prefix:
                writer.write(prefix)
                await writer.drain()
            i = 0
            while True:
                byte = script[i:i + 1] if i < len(script) else b" " if prefix else b"a"
                writer.write(byte)
                await writer.drain()
                i += 1
                await asyncio.sleep(TRICKLE)
        except (ConnectionError, OSError):
            pass  # the reader sees the close

    # ------------------------------------------------------------ sampling

    def sample_once(self):
        pid = self.args.pid
        rss = threads = None
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads = int(line.split()[1])
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
                if fields[0] == "Z":
                    raise FileNotFoundError("zombie")
                cpu = int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError):
            return None
        return rss, fds, threads, cpu

    async def sampler(self, out):
        writer = csv.writer(out)
        writer.writerow(["t_s", "rss_kib", "fds", "threads", "cpu_ticks", "healthy_ok", "events",
                         "hostile_open"])
        second = 0
        while not self.stopping.is_set():
            sample = self.sample_once()
            if sample is None:
                self.died = True
                self.stats.fail("gateway", f"the gateway process is gone at {self.now():.0f} s", self.t0)
                self.stopping.set()
                return
            rss, fds, threads, cpu = sample
            row = [second, rss, fds, threads, cpu, self.stats.healthy_ok_total, self.stats.events,
                   self.stats.hostile_open]
            self.samples.append(row)
            writer.writerow(row)
            out.flush()
            second += 1
            delay = self.t0 + second - time.monotonic()
            if second >= self.args.duration:
                self.stopping.set()
                return
            if delay > 0:
                await asyncio.sleep(delay)

    # ------------------------------------------------------------ the run

    async def setup(self):
        with open(self.args.open_csv, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        self.open_rows = [(r["Invoice ID"], r["Account ID"]) for r in rows]
        if len(self.open_rows) < FLIP_INVOICES + 10:
            raise SystemExit(f"only {len(self.open_rows)} open invoices to work on")
        mine = [i for i, a in self.open_rows if a == self.args.customer_account]
        others = [i for i, a in self.open_rows if a != self.args.customer_account]
        random.shuffle(mine)
        random.shuffle(others)
        n_mine = min(len(mine), max(1, FLIP_INVOICES // 2)) if FLIP_INVOICES else 0
        self.flips = [(i, True) for i in mine[:n_mine]] + [(i, False) for i in others[:FLIP_INVOICES - n_mine]]
        flipped = {i for i, _ in self.flips}
        self.targets = [i for i, _ in self.open_rows if i not in flipped]
        http = Http(self.port)
        data = await self.graphql(http, "setup", self.admin, CURSOR)
        http.close()
        if data is None:
            raise SystemExit(f"could not read statusChangeCursor: {self.stats.failures}")
        self.cursor = data["statusChangeCursor"]

    def baseline(self):
        sample = self.sample_once()
        return sample[:2] if sample else (None, None)

    async def run(self):
        args = self.args
        await self.setup()
        self.idle_before = self.baseline()
        self.t0 = time.monotonic()
        subscribers = []
        self.heard = []
        for i in range(SUBSCRIBERS):
            customer = i < CUSTOMER_SUBSCRIBERS
            got = []
            self.heard.append((customer, got))
            token = args.customer_token if customer else args.admin_token
            subscribers.append(asyncio.ensure_future(self.subscriber(i, token, self.cursor, got)))
        hostiles = []
        for i in range(HOSTILE):
            kind = "idle" if i % 2 == 0 else "slow-header" if i % 4 == 1 else "slow-body"
            hostiles.append(asyncio.ensure_future(self.hostile(kind)))
        load = [self.query_loop(self.admin, "query:admin") for _ in range(ADMIN_QUERY_LOOPS)]
        load += [self.query_loop(self.customer, "query:customer") for _ in range(CUSTOMER_QUERY_LOOPS)]
        load += [self.mutation_loop(self.targets) for _ in range(MUTATION_LOOPS)]
        load += [self.flip_loop(i, customer) for i, customer in self.flips]
        load.append(self.import_loop())
        with open(args.samples, "w", newline="") as out:
            sampler = asyncio.ensure_future(self.sampler(out))
            await asyncio.gather(*load)  # each returns once `stopping` is set
            await sampler
        self.load_seconds = self.now()
        for task in hostiles:
            task.cancel()
        await asyncio.gather(*hostiles, return_exceptions=True)
        # Every subscriber must hear every change that was acknowledged, once.
        deadline = time.monotonic() + DRAIN
        while time.monotonic() < deadline and not self.died:
            if all(len(got) >= self.expected(customer) for customer, got in self.heard):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)  # a duplicate arriving late
        for task in subscribers:
            task.cancel()
        await asyncio.gather(*subscribers, return_exceptions=True)
        # Descriptors once every client has gone: back to where they started?
        await asyncio.sleep(2)
        self.idle_after = self.baseline()

    def expected(self, customer):
        return self.stats.flips_customer_ok if customer else self.stats.flips_ok

    # ------------------------------------------------------------ the summary

    def report(self):
        st = self.stats
        p = print
        rows = self.samples
        failed = sum(st.failed.values())
        http_failed = sum(st.failed[kind] for kind in st.sent)
        if rows:
            n = len(rows)
            window = 60 if n >= 120 else max(1, n // 3)
            p(f"memory and descriptors, sampled every second ({n} samples, {self.args.samples}):")
            p(f"  {'window':<24} {'RSS MiB min / median / max':>30} {'fds min / median / max':>26}")
            for label, part in ((f"first {window} s", rows[:window]), (f"last {window} s", rows[-window:]),
                                ("whole run", rows)):
                rss = [r[1] / 1024 for r in part]
                fds = [r[2] for r in part]
                p(f"  {label:<24} {min(rss):>10.1f} {statistics.median(rss):>9.1f} {max(rss):>9.1f}"
                  f" {min(fds):>12} {statistics.median(fds):>6.0f} {max(fds):>6}")
            bucket = 60 if n >= 180 else 10
            p(f"  per {bucket} s:  " + "  ".join(
                f"{i}s {statistics.median([r[1] for r in rows[i:i + bucket]]) / 1024:.1f}MiB/"
                f"{statistics.median([r[2] for r in rows[i:i + bucket]]):.0f}fd"
                for i in range(0, n, bucket)))
            first = rows[:window]
            last = rows[-window:]
            p(f"  last vs first window: RSS median {statistics.median([r[1] for r in last]) / 1024 - statistics.median([r[1] for r in first]) / 1024:+.1f} MiB,"
              f" fds median {statistics.median([r[2] for r in last]) - statistics.median([r[2] for r in first]):+.0f};"
              f" CPU {(rows[-1][4] - rows[0][4]) / os.sysconf('SC_CLK_TCK') / max(1, n - 1) * 100:.0f} % of a core")
            if self.idle_before[0] is not None and self.idle_after[0] is not None:
                p(f"  idle before the load: {self.idle_before[0] / 1024:.1f} MiB, {self.idle_before[1]} fds;"
                  f" 2 s after every client left: {self.idle_after[0] / 1024:.1f} MiB, {self.idle_after[1]} fds")
        p(f"healthy requests over {self.load_seconds:.0f} s: sent {sum(st.sent.values())}, "
          f"ok {sum(st.ok.values())}, failed {http_failed}")
        for kind in sorted(st.sent):
            lat = sorted(st.latency.get(kind) or [0])
            p(f"  {kind:<26} sent {st.sent[kind]:>6} ok {st.ok[kind]:>6} failed {st.failed[kind]:>4}"
              f"   latency p50 {pct(lat, 50) * 1000:7.1f} ms  p99 {pct(lat, 99) * 1000:7.1f} ms"
              f"  max {lat[-1] * 1000:7.1f} ms")
        if st.user_errors:
            p(f"  userErrors by code: {dict(st.user_errors)}")
        p(f"subscriptions: {SUBSCRIBERS} clients ({CUSTOMER_SUBSCRIBERS} customer), {st.ws_connects} connections,"
          f" {st.events} events received, {st.ws_pings} keep-alive pings answered;"
          f" status changes made: {st.flips_ok} ({st.flips_customer_ok} on the customer's account)")
        missing = extra = 0
        for customer, got in self.heard:
            want = self.expected(customer)
            dup = len(got) - len(set(got))
            if len(set(got)) < want:
                missing += 1
            if len(got) > want or dup:
                extra += 1
        p(f"  every subscriber heard every change once: "
          f"{'yes' if not (missing or extra) else f'NO ({missing} clients missed changes, {extra} heard extra or repeated ones)'}"
          + (f"; unexpected closes {dict(st.ws_unexpected_closes)}" if st.ws_unexpected_closes else ""))
        p(f"imports done: {len(st.imports)} (ok {st.ok['import']})")
        for r in st.imports:
            p(f"  #{r['n']} at {r['at']:>6} s {'dry run' if r['dry_run'] else 'applied'}: {r.get('rows', '?')} rows exported,"
              f" {r.get('state')} in {r.get('seconds', '?')} s, changed {r.get('changed', '?')}, unchanged"
              f" {r.get('unchanged', '?')}, refused {r.get('refused', '?')} {r.get('codes', '') or ''}")
        p(f"hostile connections: {HOSTILE} held (idle / slow headers / slow bodies:"
          f" {HOSTILE - HOSTILE // 2} / {(HOSTILE // 2 + 1) // 2} / {HOSTILE // 4}),"
          f" opened {sum(st.hostile_opened.values())}, closed by the server {sum(st.hostile_closed.values())}")
        for kind in ("idle", "slow-header", "slow-body"):
            life = sorted(st.hostile_lifetime.get(kind) or [])
            if life:
                p(f"  {kind:<12} closed {st.hostile_closed[kind]:>5}, open for min {life[0]:5.1f} s,"
                  f" median {pct(life, 50):5.1f} s, max {life[-1]:5.1f} s")
            else:
                p(f"  {kind:<12} none closed by the server (opened {st.hostile_opened[kind]})")
        if st.hostile_answers:
            p(f"  answers before the close: {dict((f'{k} {s}', c) for (k, s), c in st.hostile_answers.items())}")
        if st.hostile_connect_errors:
            p(f"  connect errors: {dict(st.hostile_connect_errors)}")
        other = {kind: n for kind, n in st.failed.items() if kind not in st.sent}
        if other:
            p(f"other failures: {other}")
        if st.failures:
            p("failures (the first ones: seconds into the load, kind, what):")
            for f in st.failures:
                p(f"  {f}")
            p(f"failures by kind: {dict((f'{k}: {w}', c) for (k, w), c in st.failure_kinds.items())}")
        ok = failed == 0 and not self.died and not (missing or extra)
        if self.died:
            p("THE GATEWAY DIED")
        return ok


def pct(sorted_values, q):
    if not sorted_values:
        return 0.0
    i = max(0, min(len(sorted_values) - 1, int(len(sorted_values) * q / 100 + 0.999999) - 1))
    return sorted_values[i]


# ---------------------------------------------------------------- WebSocket frames


async def ws_send_frame(writer, opcode, payload):
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    repeated = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big") if n else b""
    writer.write(head + key + masked)
    await writer.drain()


async def ws_send(writer, message):
    await ws_send_frame(writer, 0x1, json.dumps(message).encode())


async def ws_read(reader):
    """The next message (opcode, payload), continuation frames joined."""
    parts = []
    opcode = None
    while True:
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", await reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await reader.readexactly(8))[0]
        key = await reader.readexactly(4) if b1 & 0x80 else None
        data = await reader.readexactly(n)
        if key:
            data = bytes(c ^ key[i % 4] for i, c in enumerate(data))
        op = b0 & 0x0F
        if op >= 0x8:  # control frames come whole, even between fragments
            return op, data
        if op != 0:
            opcode = op
        parts.append(data)
        if b0 & 0x80:
            return opcode, b"".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--duration", type=int, required=True)
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--customer-token", required=True)
    parser.add_argument("--customer-account", required=True)
    parser.add_argument("--open-csv", required=True)
    parser.add_argument("--samples", required=True)
    args = parser.parse_args()
    # 200 hostile sockets, the loops' and the subscribers': more than some defaults.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard) if hard != resource.RLIM_INFINITY else 4096, hard))
    soak = Soak(args)
    asyncio.run(soak.run())
    sys.exit(0 if soak.report() else 1)


if __name__ == "__main__":
    main()
