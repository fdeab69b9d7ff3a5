"""PyTorch's own TCPStore client against a TCPStore endpoint (ours or PyTorch's).

Usage: tcpstore_client_suite.py HOST PORT MODE [ARGS]
  suite              every op this torch version's client offers; prints "OK <op>" per op
  wait-for KEY SECS  prints "WAITING", blocks in wait([KEY]), prints "WOKEN <value>"
  concurrent N ITERS N clients in threads, each adding 1 to "counter" ITERS times and
                     setting/getting its own key; prints "TOTAL <counter>"

Keys reach the store with the client's "/" prefix ("k" is stored as "/k"). Any failed check exits
non-zero with a message naming the op, the expected and the actual value.
"""
import datetime
import sys
import threading

import torch
import torch.distributed as dist


def connect(host, port, timeout_s=30):
    return dist.TCPStore(host, port, is_master=False, wait_for_workers=False,
                         timeout=datetime.timedelta(seconds=timeout_s))


def expect(op, actual, expected):
    if actual != expected:
        sys.exit(f"{op}: expected {expected!r}, got {actual!r} (torch {torch.__version__})")
    print(f"OK {op}", flush=True)


def suite(host, port):
    s = connect(host, port)
    s.set("suite/a", "1")
    expect("set+get", s.get("suite/a"), b"1")
    s.set("suite/bin", bytes([0, 255, 1, 128]))
    expect("get binary", s.get("suite/bin"), bytes([0, 255, 1, 128]))
    expect("add new", s.add("suite/ctr", 5), 5)
    expect("add existing", s.add("suite/ctr", -2), 3)
    expect("get counter", s.get("suite/ctr"), b"3")
    expect("compare_set match", s.compare_set("suite/a", "1", "2"), b"2")
    expect("compare_set mismatch", s.compare_set("suite/a", "1", "3"), b"2")
    expect("compare_set absent, empty expected", s.compare_set("suite/new", "", "x"), b"x")
    expect("compare_set absent, other expected", s.compare_set("suite/none", "y", "z"), b"y")
    s.wait(["suite/a", "suite/ctr"])
    print("OK wait present", flush=True)
    before = s.num_keys()
    s.set("suite/extra", "e")
    expect("num_keys", s.num_keys(), before + 1)
    expect("delete_key present", s.delete_key("suite/extra"), True)
    expect("delete_key absent", s.delete_key("suite/extra"), False)
    expect("num_keys after delete", s.num_keys(), before)
    try:
        s.wait(["suite/never"], datetime.timedelta(milliseconds=300))
        sys.exit("wait timeout: expected a timeout error, the wait returned")
    except RuntimeError as e:
        print(f"OK wait timeout ({str(e).splitlines()[0]})", flush=True)
    if hasattr(s, "check"):
        expect("check", s.check(["suite/a"]), True)
        expect("check missing", s.check(["suite/a", "suite/never"]), False)
    if hasattr(s, "multi_set"):
        s.multi_set(["suite/m1", "suite/m2"], ["v1", b"v2"])
        expect("multi_get", s.multi_get(["suite/m1", "suite/m2"]), [b"v1", b"v2"])
    if hasattr(s, "append"):
        s.append("suite/log", "ab")
        s.append("suite/log", "cd")
        expect("append", s.get("suite/log"), b"abcd")
    if hasattr(s, "list_keys"):
        listed = s.list_keys()
        expect("list_keys", sorted(k for k in listed if k in ("suite/a", "suite/ctr")),
               ["suite/a", "suite/ctr"])
    # A second client sees the first one's writes and is woken by them.
    other = connect(host, port)
    done = threading.Event()
    got = []

    def waiter():
        got.append(other.get("suite/late"))
        done.set()

    t = threading.Thread(target=waiter)
    t.start()
    s.set("suite/late", "here")
    t.join(30)
    expect("get blocked until another client's set", got, [b"here"])
    print(f"PASS torch {torch.__version__}", flush=True)


def wait_for(host, port, key, secs):
    s = connect(host, port, timeout_s=int(secs))
    print("WAITING", flush=True)
    s.wait([key])
    print(f"WOKEN {s.get(key).decode()}", flush=True)


def concurrent(host, port, n, iters):
    errors = []

    def worker(i):
        try:
            c = connect(host, port)
            for j in range(iters):
                c.add("counter", 1)
                c.set(f"client/{i}", str(j))
                if c.get(f"client/{i}") != str(j).encode():
                    errors.append(f"client {i} read back a wrong value at {j}")
        except Exception as e:  # noqa: BLE001 - reported below with the client number
            errors.append(f"client {i}: {e}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit("; ".join(errors[:5]))
    print(f"TOTAL {connect(host, port).add('counter', 0)}", flush=True)


if __name__ == "__main__":
    host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "suite":
        suite(host, port)
    elif mode == "wait-for":
        wait_for(host, port, sys.argv[4], float(sys.argv[5]))
    elif mode == "concurrent":
        concurrent(host, port, int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(f"mode is {mode!r}; expected suite, wait-for or concurrent")
