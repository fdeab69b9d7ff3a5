"""NCCL all_to_all_single through PyTorch for the LL payloads: the baseline of `bench dataplane-cuda`.

For each tokens-per-rank value, every rank sends tokens*topk messages split evenly over the ranks: the dispatch
payload (fp8 row + scales + 16-byte header = 16 + H + H/32 bytes per message) and the combine payload (bf16
row, 2H bytes). Times are CUDA events around each call, median over the iterations after warm-up.
Prints one JSON object per line on rank 0: {"tokens", "dispatch_bytes", "dispatch_us", "combine_bytes", "combine_us"}.
"""
import argparse
import json
import os
import statistics

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def time_all_to_all(nbytes, world, iterations, warmup):
    nbytes -= nbytes % world
    send = torch.randint(0, 255, (nbytes,), dtype=torch.uint8, device="cuda")
    recv = torch.empty_like(send)
    for _ in range(warmup):
        dist.all_to_all_single(recv, send)
    torch.cuda.synchronize()
    times = []
    for _ in range(iterations):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        dist.barrier()
        start.record()
        dist.all_to_all_single(recv, send)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1000.0)
    return nbytes, statistics.median(times)


def run(rank, args):
    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{args.port}", rank=rank, world_size=args.ranks,
                            device_id=torch.device("cuda", rank))
    scales = args.hidden // 128
    for tokens in args.tokens:
        messages = tokens * args.topk
        dispatch_bytes, dispatch_us = time_all_to_all(messages * (16 + args.hidden + 4 * scales), args.ranks,
                                                      args.iterations, args.warmup)
        combine_bytes, combine_us = time_all_to_all(messages * 2 * args.hidden, args.ranks, args.iterations,
                                                    args.warmup)
        if rank == 0:
            print(json.dumps({"tokens": tokens, "dispatch_bytes": dispatch_bytes, "dispatch_us": dispatch_us,
                              "combine_bytes": combine_bytes, "combine_us": combine_us}), flush=True)
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=lambda s: [int(v) for v in s.split(",")], default=[128, 512, 4096])
    parser.add_argument("--hidden", type=int, default=7168)
    parser.add_argument("--topk", type=int, default=8)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--port", type=int, default=29531)
    args = parser.parse_args()
    if torch.cuda.device_count() < args.ranks:
        raise SystemExit(f"{args.ranks} ranks need {args.ranks} GPUs; torch sees {torch.cuda.device_count()}")
    mp.spawn(run, args=(args,), nprocs=args.ranks, join=True)


if __name__ == "__main__":
    main()
