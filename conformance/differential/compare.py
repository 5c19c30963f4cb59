"""Sends the same commands to Keel and to redis-server, in RESP2 and RESP3, and prints every reply whose
bytes differ. Usage: compare.py KEEL_PORT REDIS_PORT COMMANDS.tsv (one command per line, arguments
separated by tabs). Exits 1 when any reply differs."""

import socket
import sys


def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def reply_end(buf, i):
    """Offset just past the reply starting at buf[i], or None if incomplete."""
    j = buf.find(b"\r\n", i)
    if j < 0:
        return None
    kind, line, nxt = buf[i:i + 1], buf[i + 1:j], j + 2
    if kind in b"+-:_,#(":
        return nxt
    if kind in b"$=!":
        n = int(line)
        if n < 0:
            return nxt
        return nxt + n + 2 if len(buf) >= nxt + n + 2 else None
    n = int(line)
    if n < 0:
        return nxt
    for _ in range(n * 2 if kind == b"%" else n):
        nxt = reply_end(buf, nxt)
        if nxt is None:
            return None
    return nxt


def replies(port, resp, commands):
    sock = socket.create_connection(("127.0.0.1", port))
    buf, out = b"", []
    for command in [["FLUSHALL"], ["HELLO", str(resp)]] + commands:
        sock.sendall(encode(command))
        while (end := reply_end(buf, 0)) is None:
            buf += sock.recv(65536)
        out.append(buf[:end])
        buf = buf[end:]
    return out[2:]


def main():
    keel, redis, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    commands = [line.split("\t") for line in open(path).read().splitlines() if line and not line.startswith("#")]
    differences = 0
    for resp in (2, 3):
        for command, ours, theirs in zip(commands, replies(keel, resp, commands), replies(redis, resp, commands)):
            if ours != theirs:
                differences += 1
                print(f"RESP{resp} {' '.join(command)}\n   keel : {ours!r}\n   redis: {theirs!r}")
    print(f"{len(commands)} commands x 2 protocols, {differences} differences")
    sys.exit(1 if differences else 0)


main()
