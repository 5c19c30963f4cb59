#!/usr/bin/env python3
"""Replication under load, one server kind at a time: how far a replica trails its primary while
redis-benchmark writes to the primary, and what the primary's write throughput is with the replica attached
against without it, and the primary's own CPU time per SET both ways (on this 2-core machine the replica shares
the load generator's core, so throughput also measures that contention; CPU time per SET is the primary's own
cost). Between the two, the same load with a stream sink attached: a client that sends SYNC and discards
everything it receives, pinned to the server's core, so that the primary feeds a replica whose own work does
not compete with the load generator (the primary's cost of replication alone). A probe SETs a fresh value on
the primary and polls the replica until it reads it back; the time between is one lag sample. Last, FAILOVER hands the primary's data to the replica while a client writes: how
long that took and the longest a write waited. Prints: NAME lag_p50_ms lag_p99_ms rps_without rps_with
cpu_us_without cpu_us_with failover_ms longest_write_ms rps_sink cpu_us_sink.

Usage: replication.py NAME PRIMARY_PORT REPLICA_PORT CLIENT_CPU SERVER_CPU"""
import os, socket, statistics, subprocess, sys, threading, time

from resp import command

name, primary, replica, client_cpu, server_cpu = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")

    def call(self, *args):
        self.sock.sendall(command(*args))
        line = self.file.readline()
        if line[:1] == b"$":
            n = int(line[1:])
            return None if n < 0 else self.file.read(n + 2)[:-2]
        return line.strip()


def benchmark(port, requests, pipeline, clients):
    out = subprocess.run(["taskset", "-c", client_cpu, "redis-benchmark", "-p", str(port), "-t", "set", "-n",
                          str(requests), "-P", str(pipeline), "-c", str(clients), "-r", "1000000", "-d", "16",
                          "--csv"], capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1].split(",")[1].strip('"'))


def cpu_seconds(port):
    info = Client(port).call("INFO", "server")
    pid = next(l.split(b":")[1] for l in info.split(b"\r\n") if l.startswith(b"process_id:")).decode()
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(requests):
    """Throughput of `requests` pipelined SETs, and the primary's CPU microseconds per SET."""
    before = cpu_seconds(primary)
    rps = benchmark(primary, requests, 16, 50)
    return rps, (cpu_seconds(primary) - before) * 1e6 / requests


def replicate(on):
    target = f"127.0.0.1 {primary}".split() if on else ["NO", "ONE"]
    Client(replica).call("REPLICAOF", *target)
    if on:
        while b"master_link_status:up" not in (Client(replica).call("INFO", "replication") or b""):
            time.sleep(0.05)


SINK = """import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"SYNC\\r\\n")
buffer = bytearray(1 << 20)
while s.recv_into(buffer):
    pass"""


def with_stream_sink(requests):
    """`measured` while a stream sink (see above) is attached and online."""
    sink = subprocess.Popen(["taskset", "-c", server_cpu, sys.executable, "-c", SINK, str(primary)])
    while b"state=online" not in (Client(primary).call("INFO", "replication") or b""):
        time.sleep(0.05)
    try:
        return measured(requests)
    finally:
        sink.kill()
        sink.wait()
        while b"connected_slaves:0" not in (Client(primary).call("INFO", "replication") or b""):
            time.sleep(0.05)


replicate(False)
without, cpu_without = measured(1_000_000)
sink_rps, cpu_sink = with_stream_sink(1_000_000)
replicate(True)
with_replica, cpu_with = measured(1_000_000)

# Lag: a write load of about 100k ops/s (-P 1, 10 clients) while the probe measures.
load = threading.Thread(target=benchmark, args=(primary, 1_500_000, 1, 10))
load.start()
time.sleep(0.5)
writer, reader = Client(primary), Client(replica)
lags = []
i = 0
while load.is_alive() and len(lags) < 2000:
    value = b"%d" % i
    writer.call("SET", "lag-probe", value)
    started = time.perf_counter()
    while reader.call("GET", "lag-probe") != value:
        pass
    lags.append((time.perf_counter() - started) * 1000)
    i += 1
    time.sleep(0.002)
load.join()
lags.sort()
p50 = statistics.median(lags)
p99 = lags[int(len(lags) * 0.99) - 1]


def failover():
    """FAILOVER to the replica while a client writes in a loop: how long the hand-over took (ms) and the
    longest a write waited (ms); the writer stops at its first refusal (READONLY, once the primary follows)."""
    waits, done = [], threading.Event()

    def write():
        c, i = Client(primary), 0
        while not done.is_set():
            started = time.perf_counter()
            reply = c.call("SET", f"failover:{i}", "v")
            waits.append((time.perf_counter() - started) * 1000)
            if reply.startswith(b"-"):
                return
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.3)
    admin = Client(primary)
    started = time.perf_counter()
    admin.call("FAILOVER", "TO", "127.0.0.1", str(replica))
    while b"master_failover_state:no-failover" not in (admin.call("INFO", "replication") or b""):
        time.sleep(0.002)
    took = (time.perf_counter() - started) * 1000
    done.set()
    writer.join()
    return took, max(waits)


took, held = failover()
print(name, f"{p50:.3f}", f"{p99:.3f}", f"{without:.0f}", f"{with_replica:.0f}", f"{cpu_without:.3f}", f"{cpu_with:.3f}",
      f"{took:.0f}", f"{held:.0f}", f"{sink_rps:.0f}", f"{cpu_sink:.3f}")
