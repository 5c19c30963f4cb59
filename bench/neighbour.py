#!/usr/bin/env python3
"""Noisy neighbours: database B's PING latency while database A (in the same Keel) is quiet, runs a 3-second Lua
loop, answers 50 clients of pipelined SETs, scans its whole keyspace with KEYS, and while the admin API and
/metrics are polled hard. Prints one line per case: NAME p50_ms p99_ms max_ms samples. The goal (issue 13) is
B's p99 under 10 ms in every case.

Usage: neighbour.py PORT HTTP_PORT ADMIN_TOKEN SECONDS"""
import json, socket, statistics, subprocess, sys, threading, time, urllib.request

from resp import command

port, http_port, admin_token, seconds = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])


def admin(method, path, body=None):
    request = urllib.request.Request(f"http://127.0.0.1:{http_port}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {admin_token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as reply:
        return json.loads(reply.read() or b"null")


class Client:
    """A blocking RESP client that reads one reply of any shape (enough for PING, AUTH, EVAL, KEYS)."""

    def __init__(self, password):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.call("AUTH", password)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind in (b"+", b":"):
            return rest
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(1 << 16)
            value, self.buf = self.buf[:n], self.buf[n + 2:]
            return value
        if kind == b"*":
            return [self._reply() for _ in range(max(int(rest), 0))]
        raise RuntimeError(f"unexpected reply {line!r}")

    def call(self, *args):
        self.sock.sendall(command(*args))
        return self._reply()


def ping_latencies(password, stop):
    """B's side: PING after PING on one connection until `stop`, each round trip in milliseconds."""
    client = Client(password)
    samples = []
    while not stop.is_set():
        started = time.perf_counter()
        client.call("PING")
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure(name, b_password, load):
    """Runs `load(stop)` in a thread while B pings for `seconds`; prints B's percentiles."""
    stop = threading.Event()
    worker = threading.Thread(target=load, args=(stop,), daemon=True)
    worker.start()
    time.sleep(0.2)
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    samples = sorted(ping_latencies(b_password, stop))
    worker.join()
    p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    print(f"{name} {statistics.median(samples):.3f} {p(0.99):.3f} {samples[-1]:.3f} {len(samples)}", flush=True)


def quiet(stop):
    stop.wait()


def lua_loop(a_password):
    def load(stop):
        client = Client(a_password)
        while not stop.is_set():
            client.call("EVAL", "local t = redis.call('TIME') local s = tonumber(t[1]) "
                                "repeat t = redis.call('TIME') until tonumber(t[1]) - s >= 3 return 1", 0)
    return load


def pipelined_sets(a_password):
    def load(stop):
        bench = subprocess.Popen(["redis-benchmark", "-p", str(port), "-a", a_password, "-c", "50", "-P", "16",
                                  "-r", "1000000", "-n", "100000000", "-t", "set", "-q"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stop.wait()
        bench.kill()
        bench.wait()
    return load


def keys_scans(a_password):
    def load(stop):
        client = Client(a_password)
        while not stop.is_set():
            client.call("KEYS", "*")
    return load


def admin_polling(stop):
    while not stop.is_set():
        admin("GET", "/v1/databases")
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{http_port}/metrics",
                                                      headers={"Authorization": f"Bearer {admin_token}"})).read()


a = admin("POST", "/v1/databases", {"name": "neighbour-a", "max_memory": 1 << 30})
b = admin("POST", "/v1/databases", {"name": "neighbour-b"})
measure("quiet", b["password"], quiet)
measure("lua_loop_in_A", b["password"], lua_loop(a["password"]))
measure("sets_P16_in_A", b["password"], pipelined_sets(a["password"]))
measure("keys_scan_in_A", b["password"], keys_scans(a["password"]))
measure("admin_and_metrics", b["password"], admin_polling)
