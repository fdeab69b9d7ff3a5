"""Side-by-side TCPStore benchmark: PyTorch's client against PyTorch's own TCPStore server and
against ElasticMoE's endpoint, in one run, at 1, 8 and 32 clients.

Each client is a forked process with its own TCPStore connection doing set+get pairs on its own key
for --seconds; throughput counts both ops, latency is per pair. The two servers are measured
alternately at each client count, so machine load drifts hit both sides alike.

Usage: tcpstore_bench.py --ours-cmd "java -cp ... io.elasticmoe.operator.tcpstore.TcpStoreBenchServer"
       [--clients 1,8,32] [--seconds 5] [--value-bytes 32] [--out FILE.md]
"""
import argparse
import datetime
import multiprocessing as mp
import os
import platform
import shlex
import subprocess
import sys
import time

import torch
import torch.distributed as dist

PYTORCH_SERVER = (
    "import sys, torch.distributed as d\n"
    "s = d.TCPStore('127.0.0.1', 0, is_master=True, wait_for_workers=False)\n"
    "print('LISTENING', s.port, flush=True)\n"
    "sys.stdin.read()\n"
)


def start_server(cmd):
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("LISTENING"):
            return proc, int(line.split()[1])
    proc.kill()
    sys.exit(f"server {cmd!r} did not print LISTENING within 120 s")


def client(port, index, seconds, value_bytes, start_at, results):
    store = dist.TCPStore("127.0.0.1", port, is_master=False, wait_for_workers=False,
                          timeout=datetime.timedelta(seconds=60))
    key = f"bench/{index}"
    value = b"x" * value_bytes
    for _ in range(50):  # warm-up
        store.set(key, value)
        store.get(key)
    while time.time() < start_at:
        time.sleep(0.001)
    latencies = []
    end = start_at + seconds
    now = time.perf_counter
    while time.time() < end:
        t0 = now()
        store.set(key, value)
        store.get(key)
        latencies.append(now() - t0)
    results.put(latencies)


def measure(port, clients, seconds, value_bytes):
    results = mp.Queue()
    start_at = time.time() + 2.0 + 0.05 * clients
    procs = [mp.Process(target=client, args=(port, i, seconds, value_bytes, start_at, results))
             for i in range(clients)]
    for p in procs:
        p.start()
    latencies = []
    for _ in procs:
        latencies.extend(results.get(timeout=seconds + 120))
    for p in procs:
        p.join()
    latencies.sort()
    pairs = len(latencies)
    pct = lambda q: latencies[min(pairs - 1, int(q * pairs))] * 1e6  # noqa: E731
    return {"ops_per_s": 2 * pairs / seconds, "p50_us": pct(0.50), "p99_us": pct(0.99)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ours-cmd", required=True, help="command that starts our endpoint")
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--value-bytes", type=int, default=32)
    ap.add_argument("--warmup-seconds", type=float, default=5.0)
    ap.add_argument("--out", help="also write the markdown table here")
    args = ap.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    if any(c < 1 or c > 256 for c in counts):
        sys.exit(f"--clients is {args.clients}; each count must be between 1 and 256")

    theirs, their_port = start_server([sys.executable, "-c", PYTORCH_SERVER])
    ours, our_port = start_server(shlex.split(args.ours_cmd))
    rows = []
    try:
        # Both servers serve a while before any measurement: the operator's endpoint runs for days,
        # so its JIT warm-up is not part of what a client sees.
        for name, port in (("pytorch", their_port), ("elasticmoe", our_port)):
            print(f"[bench] warming up {name} ...", flush=True)
            measure(port, 4, args.warmup_seconds, args.value_bytes)
        for n in counts:
            order = [("pytorch", their_port), ("elasticmoe", our_port)]
            if n % 2 == 0:
                order.reverse()
            r = {}
            for name, port in order:
                print(f"[bench] {n} clients against {name} for {args.seconds:g} s ...", flush=True)
                r[name] = measure(port, n, args.seconds, args.value_bytes)
            rows.append((n, r["pytorch"], r["elasticmoe"]))
    finally:
        for proc in (theirs, ours):
            proc.stdin.close()
            proc.wait(timeout=30)

    lines = [
        f"torch {torch.__version__} client, {os.cpu_count()} CPUs ({platform.node()}), "
        f"set+get pairs of {args.value_bytes}-byte values, {args.seconds:g} s per side",
        "",
        "| clients | PyTorch server ops/s | ours ops/s | throughput ratio | PyTorch p50 / p99 µs "
        "| ours p50 / p99 µs | p99 ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, t, o in rows:
        lines.append(
            f"| {n} | {t['ops_per_s']:,.0f} | {o['ops_per_s']:,.0f} | "
            f"{o['ops_per_s'] / t['ops_per_s']:.2f}× | {t['p50_us']:.0f} / {t['p99_us']:.0f} | "
            f"{o['p50_us']:.0f} / {o['p99_us']:.0f} | {o['p99_us'] / t['p99_us']:.2f}× |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
