#!/usr/bin/env python3
"""Memory per connection: opens COUNT connections to a server, each of which SETs and GETs a 1 KB value (one key
for all, so that its buffers have been used but the data does not grow), and reports the server's RSS growth per connection twice: right after the
last reply ("active": clients between requests) and after IDLE seconds without traffic ("idle"; Keel and
Redis both give buffers back after about 2 s idle).

Usage: connections.py PORT PID COUNT IDLE_SECONDS   prints: active_bytes idle_bytes (per connection)"""
import resource, socket, sys, time

from resp import command

port, pid, count, idle = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count + 100)), hard))


def rss():
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS"))


def read_reply(sock, ending):
    data = b""
    while not data.endswith(ending):
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("server closed a connection")
        data += chunk


value = b"v" * 1024
before = rss()
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
for sock in conns:
    sock.sendall(command("SET", "conn", value))
for sock in conns:
    read_reply(sock, b"+OK\r\n")
for sock in conns:
    sock.sendall(command("GET", "conn"))
for sock in conns:
    read_reply(sock, value + b"\r\n")
active = rss() - before
time.sleep(idle)
idle_growth = rss() - before
print(active // count, idle_growth // count)
for sock in conns:
    sock.close()
