#!/usr/bin/env python3
"""Store benchmark driven by `elasticmoe bench rendezvous`.

Runs N client processes, each doing P set+get pairs on its own keys, against
  grpc:     the ElasticMoE rendezvous Store over gRPC unary calls (python3-grpcio), authenticated
            with the deployment's bearer token on every call;
  session-aio: the same server over one Store.Session stream per client (authenticated once,
            when the stream opens), driven with grpc.aio: faster than the synchronous streaming
            API at 8 and 32 clients in two runs side by side (docs/benchmarks/rendezvous.md), whose
            request iterator is fed from a second thread;
  tcpstore: PyTorch's TCPStore (python3-torch), a master in this process;
  floor:    a trivial Python gRPC Store server (a dict, no auth) in a child process: the cost of
            the Python gRPC stack alone, to tell server time from client-stack time.
Both sides use the same client language, the same keys, value size and pair loop. A get is
TCPStore's blocking get on both sides (our Get with wait=true). Prints progress on stderr and
one JSON object per (side, clients) on stdout:
  {"side", "clients", "pairs", "ops_per_s", "pair_p50_us", "pair_p99_us"}
where an op is one set or one get (two per pair).

With --serve-tcpstore it only starts a TCPStore master (for the Java clients of
`elasticmoe bench rendezvous`), prints "tcpstore 127.0.0.1:PORT TORCH_VERSION" and serves until
its standard input closes.
"""
import argparse
import json
import multiprocessing as mp
import os
import socket
import sys
import time


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


def grpc_client(args, idx, ready, go, out):
    import grpc  # imported after fork: gRPC must not be initialised in the parent
    sys.path.insert(0, args.stubs)
    import rendezvous_pb2 as pb
    import rendezvous_pb2_grpc as pbg

    channel = grpc.insecure_channel(args.grpc_target)
    stub = pbg.StoreStub(channel)
    md = (("authorization", "Bearer " + args.token), ("x-elasticmoe-deployment", args.deployment))
    value = b"v" * args.value_bytes

    def pair(key):
        stub.Set(pb.SetRequest(key=key, value=value), metadata=md)
        got = stub.Get(pb.GetRequest(key=key, wait=True, timeout_millis=30000), metadata=md)
        if len(got.value) != args.value_bytes:
            raise RuntimeError("grpc get of %s returned %d bytes" % (key, len(got.value)))

    run_pairs(args, idx, pair, ready, go, out)
    channel.close()


def session_error(resp):
    return RuntimeError("session op %d failed: code %d: %s" % (resp.id, resp.error.code, resp.error.message))


def grpc_aio_session_client(args, idx, ready, go, out):
    import asyncio
    import grpc
    sys.path.insert(0, args.stubs)
    import rendezvous_pb2 as pb
    import rendezvous_pb2_grpc as pbg

    md = (("authorization", "Bearer " + args.token), ("x-elasticmoe-deployment", args.deployment))
    value = b"v" * args.value_bytes

    async def session():
        async with grpc.aio.insecure_channel(args.grpc_target) as channel:
            call = pbg.StoreStub(channel).Session(metadata=md)

            async def op(request):
                await call.write(request)
                resp = await call.read()
                if resp.HasField("error"):
                    raise session_error(resp)
                return resp

            async def pair(key):
                await op(pb.StoreRequest(set=pb.SetRequest(key=key, value=value)))
                got = await op(pb.StoreRequest(get=pb.GetRequest(key=key, wait=True, timeout_millis=30000)))
                if len(got.get.value) != args.value_bytes:
                    raise RuntimeError("session get of %s returned %d bytes" % (key, len(got.get.value)))

            for i in range(args.warmup):
                await pair("warm/%d/%d/%d" % (args.run, idx, i))
            ready.release()
            go.wait()  # blocks the event loop on purpose: nothing else runs before the start
            latencies = []
            t0 = time.perf_counter()
            for i in range(args.pairs):
                s = time.perf_counter_ns()
                await pair("bench/%d/%d/%d" % (args.run, idx, i))
                latencies.append(time.perf_counter_ns() - s)
            t1 = time.perf_counter()
            out.put((t0, t1, latencies))
            await call.done_writing()

    asyncio.run(session())


def floor_server(port_out, stop):
    import threading
    from concurrent import futures
    import grpc
    sys.path.insert(0, ARGS.stubs)
    import rendezvous_pb2 as pb
    import rendezvous_pb2_grpc as pbg

    data = {}
    lock = threading.Lock()

    class Store(pbg.StoreServicer):
        def Set(self, request, context):
            with lock:
                data[request.key] = request.value
            return pb.SetResponse()

        def Get(self, request, context):
            with lock:
                return pb.GetResponse(value=data[request.key])

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pbg.add_StoreServicer_to_server(Store(), server)
    port_out.put(server.add_insecure_port("127.0.0.1:0"))
    server.start()
    stop.wait()
    server.stop(0)


def tcpstore_client(args, idx, ready, go, out):
    from datetime import timedelta
    from torch.distributed import TCPStore

    store = TCPStore("127.0.0.1", args.tcpstore_port, is_master=False, timeout=timedelta(seconds=60))
    value = b"v" * args.value_bytes

    def pair(key):
        store.set(key, value)
        got = store.get(key)
        if len(got) != args.value_bytes:
            raise RuntimeError("tcpstore get of %s returned %d bytes" % (key, len(got)))

    run_pairs(args, idx, pair, ready, go, out)


def run_pairs(args, idx, pair, ready, go, out):
    for i in range(args.warmup):
        pair("warm/%d/%d/%d" % (args.run, idx, i))
    ready.release()
    go.wait()
    latencies = []
    t0 = time.perf_counter()
    for i in range(args.pairs):
        key = "bench/%d/%d/%d" % (args.run, idx, i)
        s = time.perf_counter_ns()
        pair(key)
        latencies.append(time.perf_counter_ns() - s)
    t1 = time.perf_counter()
    out.put((t0, t1, latencies))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args, side, clients):
    ctx = mp.get_context("fork")
    ready = ctx.Semaphore(0)
    go = ctx.Event()
    out = ctx.Queue()
    target = {"tcpstore": tcpstore_client, "session-aio": grpc_aio_session_client}.get(side, grpc_client)
    procs = [ctx.Process(target=target, args=(args, i, ready, go, out)) for i in range(clients)]
    for p in procs:
        p.start()
    for _ in procs:
        if not ready.acquire(timeout=120):
            raise RuntimeError("%s: a client did not finish its warm-up within 120 s" % side)
    go.set()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        if p.exitcode != 0:
            raise RuntimeError("%s: a client process exited with %s" % (side, p.exitcode))
    start = min(r[0] for r in results)
    end = max(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    return {
        "side": side,
        "clients": clients,
        "pairs": len(lat),
        "ops_per_s": round(2 * len(lat) / (end - start), 1),
        "pair_p50_us": round(percentile(lat, 0.50) / 1000.0, 1),
        "pair_p99_us": round(percentile(lat, 0.99) / 1000.0, 1),
    }


def serve_tcpstore():
    import torch
    from torch.distributed import TCPStore
    from datetime import timedelta

    port = free_port()
    master = TCPStore("127.0.0.1", port, is_master=True, wait_for_workers=False, timeout=timedelta(seconds=60))
    print("tcpstore 127.0.0.1:%d %s" % (port, torch.__version__), flush=True)
    while sys.stdin.read(1):
        pass
    del master


def main():
    if "--serve-tcpstore" in sys.argv[1:]:
        serve_tcpstore()
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", required=True, help="host:port of the rendezvous gRPC server")
    ap.add_argument("--token", required=True)
    ap.add_argument("--deployment", required=True, help="<namespace>/<name>")
    ap.add_argument("--stubs", required=True, help="directory with rendezvous_pb2*.py")
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--pairs", type=int, default=2000, help="set+get pairs per client")
    ap.add_argument("--warmup", type=int, default=100, help="untimed pairs per client")
    ap.add_argument("--value-bytes", type=int, default=64)
    ap.add_argument("--server-warmup", type=int, default=5000,
                    help="untimed pairs by one client before anything is timed, so the rendezvous JVM "
                         "runs JIT-compiled code (a long-lived operator does); 0 to skip")
    ap.add_argument("--sides", default="grpc,session-aio,floor,tcpstore")
    args = ap.parse_args()
    from torch.distributed import TCPStore
    from datetime import timedelta

    args.tcpstore_port = free_port()
    # The TCPStore server lives in this process for the whole run, as a rank-0 master would.
    master = TCPStore("127.0.0.1", args.tcpstore_port, is_master=True, wait_for_workers=False,
                      timeout=timedelta(seconds=60))
    args.run = 0
    global ARGS
    ARGS = args
    floor_stop = None
    if "floor" in args.sides.split(","):
        ctx = mp.get_context("fork")
        port_q, floor_stop = ctx.Queue(), ctx.Event()
        ctx.Process(target=floor_server, args=(port_q, floor_stop), daemon=True).start()
        args.floor_target = "127.0.0.1:%d" % port_q.get(timeout=60)
    # Each server path (unary calls, sessions) gets its own warm-up.
    warm_sides = [side for side in args.sides.split(",") if side in ("grpc", "session-aio")]
    if args.server_warmup > 0 and warm_sides:
        timed_pairs = args.pairs
        args.pairs = args.server_warmup
        args.grpc_target = args.target
        for side in warm_sides:
            print("store: warming the rendezvous server's %s path up with %d pairs ..." % (side, args.server_warmup),
                  file=sys.stderr, flush=True)
            run(args, side, 1)
        args.pairs = timed_pairs
    for clients in [int(c) for c in args.clients.split(",")]:
        for side in args.sides.split(","):
            args.run += 1
            args.grpc_target = args.floor_target if side == "floor" else args.target
            print("store: %s with %d clients x %d pairs ..." % (side, clients, args.pairs),
                  file=sys.stderr, flush=True)
            print(json.dumps(run(args, side, clients)), flush=True)
    if floor_stop is not None:
        floor_stop.set()
    del master


if __name__ == "__main__":
    main()
