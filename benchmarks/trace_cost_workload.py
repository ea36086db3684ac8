#!/usr/bin/env python3
"""A fixed workload for counting what tracing costs, with callgrind (instructions, not seconds).

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python3 benchmarks/trace_cost_workload.py TREE HANDSHAKES BULK_MB [trace]

TREE is a purekong source tree (this one, or an older checkout for an A/B);
the workload runs HANDSHAKES in-memory TLS 1.3 handshakes (client and
server, ECDSA P-256, x25519, deterministic ``random=``), then BULK_MB of
16 KiB application-data records from client to server, with ``trace=`` on
both sides when ``trace`` is given. Two runs that differ only in
HANDSHAKES (or BULK_MB) give the instructions per handshake (or per MB)
without the start-up: the figures of docs/performance.md, "Tracing". On a
shared machine wall-clock A/B runs swing by 20%; instruction counts do not.
"""
import hashlib, sys, time
sys.path.insert(0, sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
mb = float(sys.argv[3]) if len(sys.argv) > 3 else 1
traced = len(sys.argv) > 4 and sys.argv[4] == "trace"
from purekong._devpki import make_dev_pki
from purekong.engine import (NEED_DATA, PAUSED, CertifiedKey, ClientConfig, ClientConnection, ClientHelloReceived,
                             ServerConfig, ServerConnection, HandshakeComplete, DataReceived)
import purekong.engine as e
assert e.__file__.startswith(sys.argv[1]), e.__file__
pki = make_dev_pki()
scfg = ServerConfig(certificates=(CertifiedKey((pki.server, pki.ca), pki.server_key),), tls13_tickets=0, session_resumption=False, ticket_keys=())
ccfg = ClientConfig(trusted_certificates=(pki.ca,))

def rnd(seed):
    c = [0]; buf = [b""]
    def take(k):
        while len(buf[0]) < k:
            buf[0] += hashlib.sha256(seed + c[0].to_bytes(8, "big")).digest(); c[0] += 1
        out, buf[0] = buf[0][:k], buf[0][k:]
        return out
    return take

def drain(conn, sink):
    while True:
        ev = conn.next_event()
        if ev is NEED_DATA or ev is PAUSED:
            return
        if isinstance(ev, ClientHelloReceived):
            conn.proceed()
        if isinstance(ev, DataReceived):
            sink.append(len(ev.data))

def pair(i):
    events = []
    kw = {"trace": events.append} if traced else {}
    s = ServerConnection(scfg, random=rnd(b"s%d" % i), **kw)
    c = ClientConnection(ccfg, "localhost", random=rnd(b"c%d" % i), **kw)
    got = []
    for _ in range(10):
        d = c.data_to_send()
        if d: s.receive_data(d)
        drain(s, got)
        d = s.data_to_send()
        if d: c.receive_data(d)
        drain(c, got)
    return s, c

t0 = time.perf_counter()
for i in range(n):
    s, c = pair(i)
t1 = time.perf_counter()
block = b"x" * 16384
got = []
for _ in range(int(mb * 64)):
    c.send_data(block)
    s.receive_data(c.data_to_send())
    drain(s, got)
t2 = time.perf_counter()
assert sum(got) == int(mb * 64) * 16384, sum(got)
print(f"{n} handshakes {1000*(t1-t0)/n:.2f} ms each; {mb} MB bulk {t2-t1:.3f} s")
