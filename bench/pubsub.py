#!/usr/bin/env python3
"""PUBLISH fan-out: N subscribers on one channel, one publisher pipelining PUBLISH; prints messages delivered
per second (publishes x receivers). Usage: pubsub.py PORT SUBSCRIBERS SECONDS. One process reads every
subscriber socket, so at high rates it measures the server and this reader together: compare servers with
the same reader, as bench/run.sh does."""
import selectors, socket, sys, time

port, subscribers, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
payload = b"x" * 16
channel = b"bench"
message = b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(channel), channel, len(payload), payload)
confirm = b"*3\r\n$9\r\nsubscribe\r\n$%d\r\n%s\r\n:1\r\n" % (len(channel), channel)

sel = selectors.DefaultSelector()
subs = []
for _ in range(subscribers):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"SUBSCRIBE %s\r\n" % channel)
    got = b""
    while len(got) < len(confirm):
        got += s.recv(4096)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    subs.append(s)

pub = socket.create_connection(("127.0.0.1", port))
batch = (b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(channel), channel, len(payload), payload)) * 50
def drain(timeout):
    """Reads whatever has arrived on the subscriber sockets; returns the byte count."""
    got = 0
    for key, _ in sel.select(timeout=timeout):
        try:
            while True:
                data = key.fileobj.recv(1 << 20)
                if not data:
                    break
                got += len(data)
        except BlockingIOError:
            pass
    return got


received = 0
published = 0
start = time.monotonic()
pending_replies = b""
while time.monotonic() - start < seconds:
    pub.sendall(batch)
    published += 50
    # Read the 50 integer replies (":N\r\n" each).
    lines = 0
    while lines < 50:
        chunk = pub.recv(65536)
        lines += chunk.count(b"\r\n")
    received += drain(0)
# Let the tail arrive.
deadline = time.monotonic() + 5
expected = published * subscribers * len(message)
while received < expected and time.monotonic() < deadline:
    received += drain(0.1)
elapsed = time.monotonic() - start
print(f"{received // len(message) / elapsed:.0f}")
