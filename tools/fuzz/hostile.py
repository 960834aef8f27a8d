#!/usr/bin/env python3
"""Hand-written hostile requests against a running adaneg coordinator (stdlib only).

Complements schemathesis (which generates requests from openapi.yaml) with what a schema does
not describe: bank deltas that are well-formed on the wire but carry impossible values, lying
Content-Length headers, bodies over the size limit, YAML alias bombs, raw protocol garbage,
path tricks, the bearer token missing or wrong, and (issue 22) worker ids and host names with
escape bytes, newlines, nothing or too much in them on every route that takes one (400 naming
the field), and huge YAML bodies under an unknown key (4xx, the coordinator's peak RSS bounded
with --pid, the server alive). With --data (the folder of a features job:
text.npy, id.npy, id-labels.npy, ood-covered.npy, as `adaneg synthesize --layout job` writes it)
it also submits issue 13's hostile specs: valid files, but sizes of Int.max, a huge memleng,
out-of-range floats, and a features file whose header declares an absurd shape. Each must be
refused (400) and store nothing (the fuzz script hashes the database before and after).

  hostile.py --url http://127.0.0.1:PORT --token-file T --job NAME --tasks 1,2,3 --dimension 128 [--data DIR]

With --leased NUM_CLASSES it runs only the leased-unit phase instead: against a coordinator with
a pending job, it leases a unit and, as its holder, sends completions each out of range in one
field (each must be 400 naming the field, the lease kept), reads the unit's rows as its holder
and as others (GET /v1/units/{unit}/rows: 200 for the holder only), then one valid completion (pred 0,
every score 0.5), which the caller checks is all that was stored (dbcheck.py only-unit).

Every request must get an answer below 500 (and the coordinator must still answer /v1/health
afterwards). Each case also states the statuses it accepts; a different status below 500 is
reported as a finding, not a failure, unless --strict. Exit 1 on any 5xx, dropped connection
where an answer was due, or a dead coordinator.
"""
import argparse
import base64
import http.client
import json
import os
import socket
import ssl
import struct
import sys
import tempfile
import time
import urllib.parse

MAGIC = 0x4B424441


def bank_delta(entries, dimension, since=0, dim_field=None, count_field=None, fmt=2, element=4, version=0, position=0,
               reply_fields=(0, 0, 0, 0)):
    """A bank sync in wire format 2 (BankWire): 80-byte header, then row, priority, position, D float32."""
    if fmt == 1:  # the old 24-byte header, refused since format 2
        body = struct.pack("<IIIIq", MAGIC, 1, dimension, len(entries), since)
    else:
        body = struct.pack("<6I7q", MAGIC, fmt, dim_field if dim_field is not None else dimension,
                           count_field if count_field is not None else len(entries), element, 0,
                           since, version, position, *reply_fields)
    for row, priority, position_, feature in entries:
        body += struct.pack("<ifq", row, priority, position_) + struct.pack(f"<{dimension}f", *feature)
    return body


def npy_header_only(shape):
    """A float32 .npy whose header declares `shape` but that holds 64 bytes of data."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ", ".join(str(n) for n in shape)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 64


def hostile_specs(data):
    """(label, spec YAML) pairs: issue 13's rows plus extremes on every numeric field."""
    base = (f"id: {{features: {data}/id.npy, labels: {data}/id-labels.npy}}\n"
            f"ood: [{{name: covered, features: {data}/ood-covered.npy}}]\n"
            f"negatives: {{count: 1000, text_features: {data}/text.npy}}\n")
    big = 9223372036854775807
    rows = [
        ("batch_size, unit_batches, sync_every = Int.max", f"scoring: {{batch_size: {big}}}\nunit_batches: {big}\nsync_every: {big}\n"),
        ("batch_size = Int.max", f"scoring: {{batch_size: {big}}}\n"),
        ("unit_batches = Int.max", f"unit_batches: {big}\n"),
        ("sync_every = Int.max", f"sync_every: {big}\n"),
        ("unit_batches x batch_size beyond a unit", "scoring: {batch_size: 65536}\nunit_batches: 100000\n"),
        ("memleng = Int.max", f"scoring: {{memleng: {big}}}\n"),
        ("memleng = 1000000", "scoring: {memleng: 1000000}\n"),
        ("memleng = -1", "scoring: {memleng: -1}\n"),
        ("groups = Int.max", f"scoring: {{groups: {big}}}\n"),
        ("beta = 1e308", "scoring: {beta: 1e308}\n"),
        ("lambda = 1e300", "scoring: {lambda: 1e300}\n"),
        ("logit_scale = 1e38", "scoring: {logit_scale: 1e38}\n"),
        ("thres = .nan", "scoring: {thres: .nan}\n"),
        ("integer beyond Int64", "scoring: {batch_size: 99999999999999999999999}\n"),
        ("resize = Int.max", f"preprocessing: {{resize: {big}, crop: 224}}\n"),
        ("seed beyond UInt64", "seed: 18446744073709551616\n"),
    ]
    out = [(label, f"name: hostile-{i}\n" + base + extra) for i, (label, extra) in enumerate(rows)]
    out.append(("negatives.count = Int.max", f"name: hostile-count\n" + base.replace("count: 1000", f"count: {big}")))
    out.append(("num_classes = Int.max", f"name: hostile-classes\n" + base.replace("id: {", f"id: {{num_classes: {big}, ")))
    return out


class Runner:
    def __init__(self, url, token, strict, ca_file=None):
        u = urllib.parse.urlparse(url)
        # https://: every request goes over TLS, verified against --ca-file (issue 23).
        self.tls = u.scheme == "https"
        self.context = ssl.create_default_context(cafile=ca_file) if self.tls else None
        self.host, self.port = u.hostname, u.port or (443 if self.tls else 80)
        self.token = token
        self.strict = strict
        self.failures = []
        self.findings = []
        self.count = 0
        self.statuses = {}

    def connection(self, timeout):
        if self.tls:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def socket(self, timeout):
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        return self.context.wrap_socket(s, server_hostname=self.host) if self.tls else s

    def request(self, name, method, path, body=b"", headers=None, expect=(400,), auth=True, timeout=60):
        self.count += 1
        h = {"Content-Type": "application/json"}
        if auth:
            h["Authorization"] = f"Bearer {self.token}"
        h.update(headers or {})
        started = time.time()
        try:
            conn = self.connection(timeout)
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in h.items():
                conn.putheader(k, v)
            if "Content-Length" not in h and "Transfer-Encoding" not in h:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            if body:
                conn.send(body)
            resp = conn.getresponse()
            status = resp.status
            data = resp.read()
            conn.close()
        except Exception as e:  # noqa: BLE001 - any transport failure is a finding here
            self.failures.append(f"{name}: no answer ({type(e).__name__}: {e})")
            print(f"  FAIL {name}: no answer ({e})")
            return None
        self.statuses[status] = self.statuses.get(status, 0) + 1
        ms = 1000 * (time.time() - started)
        if status >= 500:
            self.failures.append(f"{name}: {status} {data[:120]!r}")
            print(f"  FAIL {name}: {status} {data[:120]!r}")
        elif status not in expect:
            msg = f"{name}: got {status}, expected {'/'.join(map(str, expect))}: {data[:120]!r}"
            (self.failures if self.strict else self.findings).append(msg)
            print(f"  note {msg}")
        else:
            print(f"  ok   {name}: {status} ({ms:.0f} ms)")
        return status, data

    def chunked(self, name, path, total, expect):
        """A chunked body of `total` bytes (no Content-Length): the limit must hold anyway."""
        self.count += 1
        try:
            s = self.socket(60)
            s.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.token}\r\n"
                       "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
            chunk = b"%x\r\n" % (1 << 20) + b"\0" * (1 << 20) + b"\r\n"
            try:
                for _ in range(total >> 20):
                    s.sendall(chunk)
                s.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the server may answer and close before the body ends
            data = b""
            try:
                while b"\r\n" not in data:
                    part = s.recv(65536)
                    if not part:
                        break
                    data += part
            except OSError:
                pass
            s.close()
        except OSError as e:
            self.failures.append(f"{name}: {e}")
            print(f"  FAIL {name}: {e}")
            return
        line = data.split(b"\r\n", 1)[0].decode(errors="replace")
        status = int(line.split()[1]) if line.startswith("HTTP/") and len(line.split()) > 1 else None
        if status is None:
            self.failures.append(f"{name}: no status line ({line!r})")
            print(f"  FAIL {name}: no status line")
        elif status >= 500:
            self.failures.append(f"{name}: {line}")
            print(f"  FAIL {name}: {line}")
        elif status not in expect:
            (self.failures if self.strict else self.findings).append(f"{name}: got {line}")
            print(f"  note {name}: {line}")
        else:
            print(f"  ok   {name}: {line}")

    def raw(self, name, payload, expect_answer=False):
        """Sends raw bytes on a fresh TCP connection; the server may answer or close."""
        self.count += 1
        try:
            s = self.socket(10)
            s.sendall(payload)
            if not self.tls:  # a TLS socket cannot half-close; the server's head timeout ends it
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except socket.timeout:
                pass
            s.close()
        except OSError as e:
            self.failures.append(f"{name}: {e}")
            print(f"  FAIL {name}: {e}")
            return
        line = data.split(b"\r\n", 1)[0]
        if line.startswith(b"HTTP/1.1 5") or line.startswith(b"HTTP/1.0 5"):
            self.failures.append(f"{name}: {line!r}")
            print(f"  FAIL {name}: {line!r}")
        else:
            print(f"  ok   {name}: {line.decode(errors='replace') or '(closed)'}")

    def alive(self):
        try:
            conn = self.connection(10)
            conn.request("GET", "/v1/health", headers={"Authorization": f"Bearer {self.token}"})
            return conn.getresponse().status == 200
        except OSError:
            return False


def leased_unit_phase(r, num_classes):
    """Out-of-range completions from the holder of a live lease (issue 13's last table row).

    A finished job has no leased unit, so this runs against a pending one: the unit is leased as
    `hostile-holder`, and each completion below differs from a valid one in a single field. Each
    must be refused (400) with the unit still held (a heartbeat succeeds); completions from the
    wrong worker or attempt get 409. Then the valid completion must be accepted, so that the
    caller can check that exactly its values were stored (pred 0, every score 0.5)."""
    print("issue 13: out-of-range completions on a leased unit")
    holder = {"worker": "hostile-holder", "host": "hostile"}
    answer = r.request("lease a unit of the pending job", "POST", "/v1/leases", json.dumps(holder).encode(), expect=(200,))
    grant = json.loads(answer[1]).get("grant") if answer and answer[0] == 200 else None
    if not grant:
        r.failures.append("leased phase: no unit was granted (is a job pending?)")
        return
    sets = grant["sets"]  # a base64 block of int32 (a JSON array from older coordinators)
    n = len(base64.b64decode(sets)) // 4 if isinstance(sets, str) else len(sets)
    unit, attempt = grant["unit"], grant["attempt"]
    results = {"pred": [0] * n, "predStatic": [0] * n, "conf": [0.5] * n, "confVanilla": [0.5] * n,
               "mcm": [0.5] * n, "adaptive": [0.5] * n, "errors": [None] * n}
    valid = {"worker": holder["worker"], "attempt": attempt, "computeSeconds": 1.0, "waitSeconds": 0.0,
             "results": results, "bank": {"idRows": 0, "negativeRows": 0}}

    def column(name, value):
        return dict(valid, results=dict(results, **{name: [value] + results[name][1:]}))

    big = 9223372036854775807
    # (label, body, a word the refusal must name: the field, so that a 400 for any other reason
    # does not pass for the range check).
    cases = [
        ("pred -5", column("pred", -5), "pred"), (f"pred {num_classes} (one past the last class)", column("pred", num_classes), "pred"),
        ("pred 99999", column("pred", 99999), "pred"), ("pred Int.max", column("pred", big), "pred"),
        ("predStatic -1", column("predStatic", -1), "predStatic"), (f"predStatic {num_classes}", column("predStatic", num_classes), "predStatic"),
        ("conf 1e38", column("conf", 1e38), "conf"), ("conf -1e38", column("conf", -1e38), "conf"),
        ("conf 3.0e38 (near Float.max)", column("conf", 3.0e38), "conf"),
        ("confVanilla 1.5", column("confVanilla", 1.5), "confVanilla"), ("confVanilla -0.1", column("confVanilla", -0.1), "confVanilla"),
        ("mcm 2", column("mcm", 2.0), "mcm"), ("mcm -1", column("mcm", -1.0), "mcm"),
        ("adaptive 1.1", column("adaptive", 1.1), "adaptive"), ("adaptive -0.5", column("adaptive", -0.5), "adaptive"),
        ("computeSeconds -1", dict(valid, computeSeconds=-1.0), "computeSeconds"),
        ("computeSeconds -1e308", dict(valid, computeSeconds=-1e308), "computeSeconds"),
        ("computeSeconds 1e308", dict(valid, computeSeconds=1e308), "computeSeconds"),
        ("waitSeconds -1", dict(valid, waitSeconds=-1.0), "waitSeconds"), ("waitSeconds 1e12", dict(valid, waitSeconds=1e12), "waitSeconds"),
        ("bank.idRows -1", dict(valid, bank={"idRows": -1, "negativeRows": 0}), "idRows"),
        (f"bank.idRows {num_classes + 1}", dict(valid, bank={"idRows": num_classes + 1, "negativeRows": 0}), "idRows"),
        ("bank.negativeRows 10^9", dict(valid, bank={"idRows": 0, "negativeRows": 10 ** 9}), "negativeRows"),
        ("an error message of 5000 bytes", column("errors", "e" * 5000), "error message"),
        ("one sample too few", dict(valid, results={k: v[1:] for k, v in results.items()}), "samples"),
        ("one sample too many", dict(valid, results={k: v + v[:1] for k, v in results.items()}), "samples"),
        ("ragged columns", dict(valid, results=dict(results, mcm=results["mcm"][1:])), "samples"),
    ]
    path = f"/v1/units/{unit}/complete"
    for label, body, word in cases:
        name = f"leased unit {unit}, holder sends {label}"
        answer = r.request(name, "POST", path, json.dumps(body).encode(), expect=(400,))
        if answer and answer[0] == 400 and word not in answer[1].decode(errors="replace"):
            r.failures.append(f"{name}: refused, but the message does not name {word!r}: {answer[1][:160]!r}")
    # Non-standard JSON numbers: the decoder refuses them before any check.
    for label, token in [("NaN", "NaN"), ("Infinity", "Infinity")]:
        raw = json.dumps(column("conf", 0.25)).replace("0.25", token, 1)
        r.request(f"leased unit {unit}, holder sends conf {label}", "POST", path, raw.encode(), expect=(400,))
    unit_rows(r, unit, holder["worker"], attempt, n)
    r.request(f"leased unit {unit}, a valid completion from another worker", "POST", path,
              json.dumps(dict(valid, worker="intruder")).encode(), expect=(409,))
    r.request(f"leased unit {unit}, a valid completion for another attempt", "POST", path,
              json.dumps(dict(valid, attempt=attempt + 1)).encode(), expect=(409,))
    r.request(f"leased unit {unit}: the holder's heartbeat (the lease survived)", "POST", f"/v1/units/{unit}/heartbeat",
              json.dumps({"worker": holder["worker"]}).encode(), expect=(200, 204))
    r.request(f"leased unit {unit}: the valid completion", "POST", path, json.dumps(valid).encode(), expect=(200,))
    r.request(f"leased unit {unit}: the same completion again (a duplicate)", "POST", path, json.dumps(valid).encode(), expect=(200,))
    print(f"leased unit: {unit} {n}")


def unit_rows(r, unit, worker, attempt, n):
    """Issue 26: a leased unit's rows (GET /v1/units/{unit}/rows, UnitRowsWire format 1) go to its
    holder under its attempt only; everyone else gets 409, a missing or malformed query field 400
    naming it. Nothing is stored by any of these reads."""
    base = f"/v1/units/{unit}/rows"
    q = urllib.parse.quote
    answer = r.request(f"leased unit {unit}: the holder reads its rows", "GET", f"{base}?worker={q(worker)}&attempt={attempt}", expect=(200,))
    if answer and answer[0] == 200:
        body = answer[1]
        if len(body) < 16 or struct.unpack("<4I", body[:16])[:3] != (0x57524441, 1, n):
            r.failures.append(f"leased unit {unit}: the rows reply is not format 1 for {n} samples: {body[:16]!r}")
    for label, query, status, word in [
        ("another worker", f"worker=intruder&attempt={attempt}", 409, "intruder"),
        ("another attempt", f"worker={q(worker)}&attempt={attempt + 1}", 409, f"unit {unit}"),
        ("no worker", f"attempt={attempt}", 400, "worker"),
        ("no attempt", f"worker={q(worker)}", 400, "attempt"),
        ("attempt -1", f"worker={q(worker)}&attempt=-1", 400, "attempt"),
        ("attempt 'x'", f"worker={q(worker)}&attempt=x", 400, "attempt"),
        ("attempt 2^64", f"worker={q(worker)}&attempt=18446744073709551616", 400, "attempt"),
        ("worker id with ESC", f"worker={q(chr(27) + '[2J')}&attempt={attempt}", 400, "worker"),
        ("worker id of 254 characters", f"worker={'w' * 254}&attempt={attempt}", 400, "worker"),
    ]:
        name = f"leased unit {unit}: rows for {label}"
        answer = r.request(name, "GET", f"{base}?{query}", expect=(status,))
        if answer and answer[0] == status and word not in answer[1].decode(errors="replace"):
            r.failures.append(f"{name}: refused, but the message does not name {word!r}: {answer[1][:160]!r}")


# Worker ids and host names a terminal would interpret (issue 22, item 12), or that say nothing.
HOSTILE_NAMES = [
    ("ESC sequence", "w\x1b[2J\x1b]0;owned\x07"), ("BEL", "w\x07"), ("newline", "w\nforged line"), ("CR", "w\rforged"),
    ("NUL", "w\x00x"), ("DEL", "w\x7f"), ("C1 CSI", "w\x9b31m"), ("bidi override", "w\u202eexe.txt"),
    ("space", "w x"), ("empty", ""), ("254 characters", "w" * 254),
]


def refused_naming(r, name, answer, field):
    """A 400 must name the field and must not echo the raw control bytes back."""
    if not answer or answer[0] != 400:
        return
    text = answer[1].decode(errors="replace")
    if field not in text:
        r.failures.append(f"{name}: refused, but the message does not name {field!r}: {text[:160]!r}")
    if any(c in text for c in "\x1b\x07\x9b"):
        r.failures.append(f"{name}: the refusal echoes raw control characters: {text[:160]!r}")


def hostile_names(r, unit):
    """Issue 22: every route that takes a worker id (and the lease's host name) refuses hostile
    ones with 400 naming the field; nothing is registered (the fuzz script compares the stored
    tables before and after)."""
    print("issue 22: escape bytes, empty and overlong worker ids and host names")
    completion = {"attempt": 1, "computeSeconds": 0, "waitSeconds": 0,
                  "results": {"pred": [], "conf": [], "confVanilla": [], "mcm": [], "adaptive": [], "errors": []}}
    for label, value in HOSTILE_NAMES:
        routes = [
            ("lease", "/v1/leases", {"worker": value, "host": "h"}),
            ("heartbeat", f"/v1/units/{unit}/heartbeat", {"worker": value}),
            ("fail", f"/v1/units/{unit}/fail", {"worker": value, "error": "x"}),
            ("release", f"/v1/units/{unit}/release", {"worker": value}),
            ("complete", f"/v1/units/{unit}/complete", dict(completion, worker=value)),
        ]
        for route, path, body in routes:
            name = f"{route}, worker id with {label}"
            refused_naming(r, name, r.request(name, "POST", path, json.dumps(body).encode(), expect=(400,)), "worker")
        name = f"lease, host name with {label}"
        refused_naming(r, name, r.request(name, "POST", "/v1/leases", json.dumps({"worker": "w", "host": value}).encode(), expect=(400,)), "host")
    # Names in specs have their own character set (refused at their key).
    yaml = {"Content-Type": "application/yaml"}
    for label, value in [("ESC", "job\x1b[2J"), ("newline", "job\\nforged")]:
        r.request(f"spec whose name has {label}", "POST", "/v1/jobs", f'name: "{value}"\n'.encode(), headers=yaml, expect=(400,))


def hostile_sweeps(r, job):
    """Issue 24 (sweep --coordinator): grids refused with 400 naming the field, an unknown job
    404, unknown or malformed sweep and sweep-unit ids 400/404, hostile worker ids 400 naming
    the field; nothing is stored (sweeps and sweep_units are in the before/after dump)."""
    print("issue 24: sweeps")
    def submit(name, body, expect, word=None):
        answer = r.request(f"sweep, {name}", "POST", "/v1/sweeps", json.dumps(body).encode(), expect=expect)
        if word and answer and answer[0] in expect and word not in answer[1].decode(errors="replace"):
            r.failures.append(f"sweep, {name}: refused, but the message does not name {word!r}: {answer[1][:160]!r}")
    submit("value out of range", {"job": job, "sets": ["memleng=0"]}, (400,), "memleng=0")
    submit("unknown parameter", {"job": job, "sets": ["bogus=1"]}, (400,), "bogus")
    submit("no sets", {"job": job, "sets": []}, (400,), "sets")
    submit("empty list", {"job": job, "sets": ["gap="]}, (400,), "gap")
    submit("range of 10^7 values", {"job": job, "sets": ["gap=0:1:0.0000001"], "max_points": 100000}, (400,), "max-points")
    submit("grid over max_points", {"job": job, "sets": ["memleng=1:20:1", "gap=0.1:0.9:0.1"], "max_points": 10}, (400,), "max-points")
    submit("max_points 10^9", {"job": job, "sets": ["memleng=2"], "max_points": 10**9}, (400,), "max_points")
    submit("max_points -1", {"job": job, "sets": ["memleng=2"], "max_points": -1}, (400,), "max_points")
    submit("max_points 2^64", {"job": job, "sets": ["memleng=2"], "max_points": 2**64}, (400,))
    submit("groups over the job's negatives", {"job": job, "sets": ["groups=1000000"]}, (400,), "groups")
    submit("sets not a list", {"job": job, "sets": "memleng=2"}, (400,))
    submit("60 KB set", {"job": job, "sets": ["memleng=" + "0," * 30000]}, (400,), "memleng")
    submit("unknown job", {"job": "no-such-job\x1b[2J", "sets": ["memleng=2"]}, (404,))
    for sid, expect in [("abc", (400,)), ("0" * 32, (404,)), ("0" * 31 + "G", (400,)), ("%00" * 11, (400,)), ("..%2F..", (400, 404))]:
        r.request(f"sweep status {sid!r}", "GET", f"/v1/sweeps/{sid}", expect=expect)
        r.request(f"sweep results {sid!r}", "GET", f"/v1/sweeps/{sid}/results", expect=expect)
    r.request("sweep lease (no sweep: no grant)", "POST", "/v1/sweep-leases", json.dumps({"worker": "w", "host": "h"}).encode(), expect=(200,))
    for unit in ["-1", "0", "9223372036854775807", "9223372036854775808", "abc", "%00"]:
        unit_request = json.dumps({"worker": "intruder", "attempt": 1}).encode()
        r.request(f"sweep unit {unit!r} heartbeat", "POST", f"/v1/sweep-units/{unit}/heartbeat", unit_request, expect=(400, 404, 409))
        r.request(f"sweep unit {unit!r} fail", "POST", f"/v1/sweep-units/{unit}/fail", unit_request, expect=(400, 404, 409))
        r.request(f"sweep unit {unit!r} complete", "POST", f"/v1/sweep-units/{unit}/complete",
                  json.dumps({"worker": "intruder", "attempt": 1, "sets": [{"point": "x", "result": "{}"}]}).encode(), expect=(400, 404))
        r.request(f"sweep unit {unit!r} features", "GET", f"/v1/sweep-units/{unit}/features?worker=intruder&attempt=1", expect=(400, 404))
    for label, value in HOSTILE_NAMES:
        for route, path, body in [
            ("sweep lease", "/v1/sweep-leases", {"worker": value, "host": "h"}),
            ("sweep heartbeat", "/v1/sweep-units/1/heartbeat", {"worker": value, "attempt": 1}),
            ("sweep fail", "/v1/sweep-units/1/fail", {"worker": value, "attempt": 1, "error": "x"}),
            ("sweep complete", "/v1/sweep-units/1/complete", {"worker": value, "attempt": 1, "sets": []}),
        ]:
            name = f"{route}, worker id with {label}"
            refused_naming(r, name, r.request(name, "POST", path, json.dumps(body).encode(), expect=(400,)), "worker")


def rss_kib(pid, field):
    """VmRSS or VmHWM (the peak) of a process, in KiB, from /proc; None when unreadable."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def huge_yaml(r, pid):
    """Issue 22, item 13: a 10 MB YAML body under an unknown key once cost the coordinator
    570 MB. Specs are capped at 1 MiB (413 naming the limit, by Content-Length or, chunked, as
    the body arrives), and in a spec under the cap an unknown top-level key is refused before
    YAML builds its value. With --pid, the coordinator's peak RSS (VmHWM) must stay within
    max(64 MiB, 16 x the body) of its RSS before each request, and it must answer afterwards."""
    print("issue 22: huge YAML under an unknown key")
    yaml = {"Content-Type": "application/yaml"}
    row = "  - [aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb, cccccccccccccccc, dddddddddddddddd]\n"
    cases = [
        ("10 MB YAML under an unknown key", "name: big\nunknown_payload:\n" + row * (10_000_000 // len(row)), (413,), "bytes"),
        ("64 MB YAML under an unknown key", "name: big\nunknown_payload:\n" + row * (64_000_000 // len(row)), (413,), "bytes"),
        ("900 KB YAML under an unknown key", "name: big\nunknown_payload:\n" + row * (900_000 // len(row)), (400,), "unknown_payload"),
        ("900 KB YAML in one scalar under an unknown key", "name: big\nunknown_blob: " + "x" * 900_000 + "\n", (400,), "unknown_blob"),
    ]
    for label, text, expect, word in cases:
        body = text.encode()
        before, peak_before = (rss_kib(pid, "VmRSS"), rss_kib(pid, "VmHWM")) if pid else (None, None)
        answer = r.request(label, "POST", "/v1/jobs", body, headers=yaml, expect=expect, timeout=120)
        if answer and answer[0] in expect and word not in answer[1].decode(errors="replace"):
            r.failures.append(f"{label}: refused, but the message does not name {word!r}: {answer[1][:160]!r}")
        if pid and before is not None:
            peak = rss_kib(pid, "VmHWM")
            bound = max(64 << 10, 16 * len(body) // 1024)
            if peak is not None and peak > max(peak_before, before + bound):
                r.failures.append(f"{label}: the coordinator's peak RSS rose to {peak >> 10} MiB from {before >> 10} MiB "
                                  f"(allowed: {bound >> 10} MiB more for a {len(body) >> 10} KiB body)")
            else:
                print(f"       RSS {before >> 10} MiB before, peak {peak >> 10 if peak else '?'} MiB after")
        if not r.alive():
            r.failures.append(f"{label}: the coordinator no longer answers")
            return
    r.chunked("10 MB chunked spec (no Content-Length)", "/v1/jobs", 10 << 20, expect=(413,))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--ca-file", help="the CA that signed an https:// coordinator's certificate")
    p.add_argument("--job", required=True, help="a finished job on the coordinator")
    p.add_argument("--tasks", required=True, help="its task ids, comma-separated")
    p.add_argument("--dimension", type=int, required=True)
    p.add_argument("--done-unit", type=int, default=1, help="a unit that is done")
    p.add_argument("--strict", action="store_true", help="an unexpected status below 500 fails too")
    p.add_argument("--json", help="write a summary here")
    p.add_argument("--data", help="a features job's data folder: submit issue 13's hostile specs over it")
    p.add_argument("--pid", type=int, help="the coordinator's process id: its peak RSS is checked around the huge YAML bodies")
    p.add_argument("--leased", type=int, metavar="NUM_CLASSES",
                   help="only the leased-unit phase: lease a unit of the coordinator's pending job (NUM_CLASSES ID classes), "
                        "send out-of-range completions as its holder, then one valid completion; prints the unit id last")
    args = p.parse_args()
    token = open(args.token_file).read().strip()
    r = Runner(args.url, token, args.strict, args.ca_file)
    if args.leased is not None:
        leased_unit_phase(r, args.leased)
        finish(r, args)
    tasks = [int(t) for t in args.tasks.split(",")]
    task, dim, job = tasks[0], args.dimension, args.job
    unit_feature = [1.0] + [0.0] * (dim - 1)

    print("authentication")
    for method, path in [("GET", "/v1/jobs"), ("GET", f"/v1/jobs/{job}"), ("POST", "/v1/leases"),
                         ("POST", f"/v1/tasks/{task}/bank"), ("POST", "/v1/units/1/complete"), ("GET", "/metrics")]:
        r.request(f"{method} {path} without token", method, path, b"{}", auth=False, expect=(401,))
        r.request(f"{method} {path} wrong token", method, path, b"{}", auth=False,
                  headers={"Authorization": f"Bearer {token}x"}, expect=(401,))
    r.request("GET /v1/health without token (liveness is open)", "GET", "/v1/health", auth=False, expect=(200,))
    r.request("POST /v1/health without token", "POST", "/v1/health", b"{}", auth=False, expect=(401, 404, 405))
    r.request("token as Basic", "GET", "/v1/jobs", auth=False, headers={"Authorization": f"Basic {token}"}, expect=(401,))
    r.request("token without scheme", "GET", "/v1/jobs", auth=False, headers={"Authorization": token}, expect=(401,))
    # The scheme is case-insensitive (RFC 7235); the token is not.
    r.request("scheme in lower case", "GET", "/v1/jobs", auth=False, headers={"Authorization": f"bearer {token}"}, expect=(200,))
    r.request("scheme in upper case", "GET", "/v1/jobs", auth=False, headers={"Authorization": f"BEARER {token}"}, expect=(200,))
    r.request("token in upper case", "GET", "/v1/jobs", auth=False, headers={"Authorization": f"Bearer {token.upper()}x"}, expect=(401,))

    print("malformed JSON bodies")
    for label, body in [("empty", b""), ("null", b"null"), ("array", b"[]"), ("number", b"42"),
                        ("wrong types", b'{"worker": 1, "host": []}'), ("truncated", b'{"worker": "w'),
                        ("not UTF-8", b'{"worker": "\xff\xfe", "host": "h"}'), ("NUL", b'{"worker": "a\x00b", "host": "h"}'),
                        ("deep nesting", b"[" * 100000 + b"]" * 100000), ("huge number", b'{"worker": "w", "host": "h", "x": 1' + b"0" * 5000 + b"}")]:
        expect = (200, 400) if label in ("NUL", "huge number") else (400,)
        if label == "deep nesting":
            expect = (400, 413)  # 200 KB: over the 64 KiB of a lease or heartbeat
        r.request(f"lease, {label}", "POST", "/v1/leases", body, expect=expect)
        r.request(f"heartbeat, {label}", "POST", f"/v1/units/{args.done_unit}/heartbeat", body, expect=(400, 409, 413))
        r.request(f"complete, {label}", "POST", f"/v1/units/{args.done_unit}/complete", body, expect=(400, 200))
    # Lease, heartbeat, fail and release bodies are capped at 64 KiB (413), ids at 253 characters (400).
    r.request("lease, 1 MB worker id", "POST", "/v1/leases", json.dumps({"worker": "w" * (1 << 20), "host": "h"}).encode(), expect=(413,))
    r.request("lease, 60 KB worker id", "POST", "/v1/leases", json.dumps({"worker": "w" * 60_000, "host": "h"}).encode(), expect=(400,))
    nested = json.dumps({"worker": "w", "host": "h", "x": [[1, 2, 3, {"a": "b"}]] * 1_500_000}).encode()
    for route in ["/v1/leases", f"/v1/units/{args.done_unit}/heartbeat", f"/v1/units/{args.done_unit}/fail", f"/v1/units/{args.done_unit}/release"]:
        r.request(f"{route}, 32 MB of nested arrays under an unknown key", "POST", route, nested, expect=(413,), timeout=120)

    hostile_names(r, args.done_unit)
    hostile_sweeps(r, job)
    huge_yaml(r, args.pid)

    print("unit ids")
    for unit in ["-1", "0", "9223372036854775807", "9223372036854775808", "abc", "1e3", "%00", "1%2F2", "..%2F..", "%201"]:
        path = f"/v1/units/{unit}/heartbeat"
        r.request(f"heartbeat unit {unit!r}", "POST", path, b'{"worker": "intruder"}', expect=(400, 404, 409))
        r.request(f"fail unit {unit!r}", "POST", f"/v1/units/{unit}/fail", b'{"worker": "intruder", "error": "x"}', expect=(400, 404, 409))
        r.request(f"release unit {unit!r}", "POST", f"/v1/units/{unit}/release", b'{"worker": "intruder"}', expect=(400, 404, 409))
        r.request(f"rows of unit {unit!r}", "GET", f"/v1/units/{unit}/rows?worker=intruder&attempt=1", expect=(400, 404, 409))
    r.request("rows of a done unit as an intruder", "GET", f"/v1/units/{args.done_unit}/rows?worker=intruder&attempt=1", expect=(409,))
    completion = {"worker": "intruder", "attempt": 1, "computeSeconds": 0, "waitSeconds": 0,
                  "results": {"pred": [1], "conf": [0.5], "confVanilla": [0.5], "mcm": [0.5], "adaptive": [0.5], "errors": [None]}}
    r.request("complete a done unit (wrong size, not the holder)", "POST", f"/v1/units/{args.done_unit}/complete",
              json.dumps(completion).encode(), expect=(200, 409, 400))
    r.request("complete an unknown unit", "POST", "/v1/units/987654321/complete", json.dumps(completion).encode(), expect=(404,))
    bad = dict(completion, results=dict(completion["results"], conf=[]))
    r.request("complete with ragged columns", "POST", "/v1/units/987654321/complete", json.dumps(bad).encode(), expect=(400, 404))
    r.request("fail a done unit as an intruder", "POST", f"/v1/units/{args.done_unit}/fail", b'{"worker": "intruder", "error": "x"}', expect=(409,))
    r.request("release a done unit as an intruder", "POST", f"/v1/units/{args.done_unit}/release", b'{"worker": "intruder"}', expect=(409,))

    print("bank deltas")
    ctype = {"Content-Type": "application/octet-stream"}
    bank = f"/v1/tasks/{task}/bank"
    cases = [
        ("shorter than the header", b"ADBK", (400,)),
        ("bad magic", b"XXXX" + bank_delta([], dim)[4:], (400,)),
        ("format 1 (the old header)", bank_delta([], dim, fmt=1), (400,)),
        ("format 3", bank_delta([], dim, fmt=3), (400,)),
        ("float16 features in a request", bank_delta([], dim, element=2), (400,)),
        ("reply field 'version' set in a request", bank_delta([], dim, version=5), (400,)),
        ("reply field 'frontier' set in a request", bank_delta([], dim, reply_fields=(0, 3, 0, 0)), (400,)),
        ("negative since", bank_delta([], dim, since=-1), (400,)),
        ("negative position field", bank_delta([], dim, position=-1), (400,)),
        ("position field past the task", bank_delta([], dim, position=1 << 40), (400,)),
        ("row past the bank", bank_delta([(1 << 30, 0.1, 7, unit_feature)], dim), (400,)),
        ("entry position past the task", bank_delta([(0, 0.1, 1 << 40, unit_feature)], dim), (400,)),
        ("dimension mismatch", bank_delta([(0, 0.1, 1, [0.0] * 7)], 7), (400,)),
        ("count larger than the body", bank_delta([(0, 0.1, 1, unit_feature)], dim, count_field=0xFFFFFFFF), (400,)),
        ("count smaller than the body", bank_delta([(0, 0.1, 1, unit_feature)] * 2, dim, count_field=1), (400,)),
        ("negative position", bank_delta([(0, 0.1, -5, unit_feature)], dim), (400,)),
        ("position -2^63", bank_delta([(0, 0.1, -(1 << 63), unit_feature)], dim), (400,)),
        ("NaN priority", bank_delta([(0, float("nan"), 7, unit_feature)], dim), (400,)),
        ("infinite priority", bank_delta([(0, float("-inf"), 7, unit_feature)], dim), (400,)),
        ("NaN feature", bank_delta([(0, 0.1, 7, [float("nan")] * dim)], dim), (400,)),
        ("infinite feature", bank_delta([(0, 0.1, 7, [float("inf")] + [0.0] * (dim - 1))], dim), (400,)),
        ("negative row", bank_delta([(-1, 0.1, 7, unit_feature)], dim), (400,)),
    ]
    for label, body, expect in cases:
        r.request(f"bank: {label}", "POST", bank, body, headers=ctype, expect=expect)
    r.request("bank: empty delta (a pull)", "POST", bank, bank_delta([], dim), headers=ctype, expect=(200,))
    r.request("bank: since from the future", "POST", bank, bank_delta([], dim, since=(1 << 62)), headers=ctype, expect=(409,))
    r.request("bank: unknown task", "POST", "/v1/tasks/987654321/bank", bank_delta([], dim), headers=ctype, expect=(404,))
    r.request("bank: task -1", "POST", "/v1/tasks/-1/bank", bank_delta([], dim), headers=ctype, expect=(404,))
    r.request("bank: task 'abc'", "POST", "/v1/tasks/abc/bank", bank_delta([], dim), headers=ctype, expect=(400,))

    print("jobs and results")
    r.request("unknown job", "GET", "/v1/jobs/no-such-job", expect=(404,))
    r.request("job name with traversal", "GET", "/v1/jobs/..%2F..%2Fetc%2Fpasswd", expect=(404,))
    r.request("results without task", "GET", f"/v1/jobs/{job}/results", expect=(400,))
    r.request("results task=abc", "GET", f"/v1/jobs/{job}/results?task=abc", expect=(400,))
    r.request("results of a foreign task", "GET", f"/v1/jobs/{job}/results?task=987654321", expect=(404,))
    r.request("plan of job -1", "GET", "/v1/plans/-1", expect=(404,))
    r.request("plan of job 'x'", "GET", "/v1/plans/x", expect=(400,))

    print("job submissions")
    yaml = {"Content-Type": "application/yaml"}
    r.request("spec not UTF-8", "POST", "/v1/jobs", b"name: \xff\xfe\n", headers=yaml, expect=(400,))
    r.request("spec empty", "POST", "/v1/jobs", b"", headers=yaml, expect=(400,))
    r.request("spec is a list", "POST", "/v1/jobs", b"- a\n- b\n", headers=yaml, expect=(400,))
    r.request("spec with tabs and anchors gone wrong", "POST", "/v1/jobs", b"name: *nope\n", headers=yaml, expect=(400,))
    bomb = 'a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]\n'
    for i in range(1, 9):
        bomb += f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]\n"
    r.request("YAML alias bomb (10^9 leaves)", "POST", "/v1/jobs", (bomb + "ood: *a8\nid: *a8\n").encode(), headers=yaml, expect=(400,), timeout=120)
    r.request("spec naming /dev/zero and /dev/urandom", "POST", "/v1/jobs",
              b"name: devzero\nid: {features: /dev/zero, labels: /dev/urandom}\nood: [{name: o, features: /dev/zero}]\n"
              b"negatives: {count: 10, text_features: /dev/zero}\n", headers=yaml, expect=(400,))
    r.request("spec with base=/proc", "POST", "/v1/jobs?base=/proc", b"name: p\nid: {features: self/mem}\nood: [{name: o, features: self/mem}]\n",
              headers=yaml, expect=(400,))
    # An existing name with a different spec: refused, nothing changes.
    r.request("resubmit the job's name with another spec", "POST", "/v1/jobs",
              f"name: {job}\nid: {{features: /nonexistent.npy, labels: /nonexistent.npy}}\nood: [{{name: o, features: /nonexistent.npy}}]\n".encode(),
              headers=yaml, expect=(400, 409))

    if args.data:
        print("issue 13: hostile sizes in valid specs")
        data = os.path.abspath(args.data)
        for label, spec in hostile_specs(data):
            r.request(f"spec: {label}", "POST", "/v1/jobs", spec.encode(), headers=yaml, expect=(400,))
        with tempfile.TemporaryDirectory() as tmp:
            absurd = os.path.join(tmp, "absurd.npy")
            for shape in [(1 << 62, 1 << 62), (9223372036854775807, 2), (3037000500, 3037000500)]:
                with open(absurd, "wb") as f:
                    f.write(npy_header_only(shape))
                spec = (f"name: hostile-npy\nid: {{features: {data}/id.npy, labels: {data}/id-labels.npy}}\n"
                        f"ood: [{{name: covered, features: {absurd}}}]\nnegatives: {{count: 1000, text_features: {data}/text.npy}}\n")
                r.request(f"spec naming an .npy of shape {shape}", "POST", "/v1/jobs", spec.encode(), headers=yaml, expect=(400,))
                spec = spec.replace(f"features: {data}/id.npy", f"features: {absurd}")
                r.request(f"spec whose ID features have shape {shape}", "POST", "/v1/jobs", spec.encode(), headers=yaml, expect=(400,))
        # Completions out of range for a unit that is done are duplicates (200, nothing
        # changes); the range checks themselves are the Swift tests' (HostileClientTests).
        for label, results in [("pred -5", {"pred": [-5]}), ("pred 99999", {"pred": [99999]}), ("conf 1e38", {"conf": [1e38]})]:
            body = dict(completion, results=dict(completion["results"], **results), computeSeconds=-1e308)
            r.request(f"complete a done unit with {label}", "POST", f"/v1/units/{args.done_unit}/complete", json.dumps(body).encode(),
                      expect=(200, 400, 409))

    print("sizes and protocol")
    r.request("Content-Length of 100 GB, no body", "POST", "/v1/leases", b"", headers={"Content-Length": str(100 << 30)}, expect=(413,))
    big = b'{"worker": "' + b"w" * (65 << 20) + b'", "host": "h"}'
    r.request("65 MB body (limit 64 MB)", "POST", "/v1/leases", big, expect=(413,), timeout=120)
    r.chunked("65 MB chunked bank body", bank, 65 << 20, expect=(413,))
    r.request("long URL (64 KB)", "GET", "/v1/jobs/" + "a" * (64 << 10), expect=(404, 414, 431, 400))
    many = {f"X-H{i}": "v" for i in range(2000)}
    r.request("2000 headers", "GET", "/v1/jobs", headers=many, expect=(200, 400, 431))
    r.request("unknown path", "GET", "/v1/nothing", expect=(404,))
    r.request("DELETE a job", "DELETE", f"/v1/jobs/{job}", expect=(404, 405))
    r.request("PUT leases", "PUT", "/v1/leases", b"{}", expect=(404, 405))
    r.raw("raw garbage", b"\x00\x01\x02GARBAGE\r\n\r\n")
    r.raw("half a request line", b"POST /v1/leases HTT")
    r.raw("headers without end", b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode())
    r.raw("body shorter than Content-Length", f"POST /v1/leases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 100\r\n\r\n{{\"worker\"".encode())
    r.raw("HTTP/0.9", b"GET /v1/jobs\r\n\r\n")
    r.raw("pipelined requests", (f"GET /v1/health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n" * 50).encode())

    finish(r, args)


def finish(r, args):
    """The summary line, the findings and failures, the JSON summary; exits."""
    alive = r.alive()
    if not alive:
        r.failures.append("the coordinator no longer answers /v1/health")
    print(f"\n{r.count} hostile requests; statuses {dict(sorted(r.statuses.items()))}; "
          f"{len(r.failures)} failures, {len(r.findings)} other findings; coordinator {'alive' if alive else 'DEAD'}")
    for f in r.findings:
        print("  finding: " + f)
    for f in r.failures:
        print("  FAILURE: " + f)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"requests": r.count, "statuses": r.statuses, "failures": r.failures, "findings": r.findings, "alive": alive}, f, indent=2)
    sys.exit(1 if r.failures else 0)


if __name__ == "__main__":
    main()
