#!/usr/bin/env python3
"""Before/after table of two result files of `npm run bench`: each posix-ipc
channel's figure as a share of its C ceiling in the same run (stream and
batched: msg/s over C's msg/s; ping-pong: C's median over the channel's).
Usage: python3 benchmarks/runs/compare.py BEFORE.json AFTER.json"""
import json, sys

CEIL = {'pipc-pipe': 'c-pipe', 'pipc-fd-pipe': 'c-pipe', 'pipc-fifo': 'c-pipe', 'pipc-socketpair': 'c-socket', 'pipc-unix': 'c-socket', 'pipc-shm': 'c-shm'}

def cells(path):
    out = {}
    for r in json.load(open(path))['results']:
        if 'msgsPerSec' in r:
            out[(r['workload'], r['transport'], r['size'], r['batch'])] = r['msgsPerSec']['median']
        elif 'medianNs' in r:
            out[(r['workload'], r['transport'], r['size'], r['batch'])] = r['medianNs']['median']
    return out

def share(c, key):
    w, t, size, batch = key
    ref = (w, CEIL[t], size, batch)
    if key not in c or ref not in c:
        # the stream channels coalesce: compare one-per-call stream figures with C's batched one too
        return None
    v, cv = c[key], c[ref]
    return cv / v if w == 'latency' else v / cv

def fmt_size(n):
    return f'{n // 1048576} MiB' if n >= 1048576 else f'{n // 1024} KiB' if n >= 1024 else f'{n} B'

before, after = cells(sys.argv[1]), cells(sys.argv[2])
print('| transport | cell | before: % of C | after: % of C | after / before |')
print('| --- | --- | ---: | ---: | ---: |')
for key in sorted(after, key=lambda k: (k[1], k[0], k[3], k[2])):
    w, t, size, batch = key
    if t not in CEIL:
        continue
    b, a = share(before, key), share(after, key)
    if a is None or b is None:
        continue
    cell = f"{'ping-pong' if w == 'latency' else 'stream'} {fmt_size(size)}{' batched' if batch > 1 else ''}"
    print(f'| {t} | {cell} | {b * 100:.0f}% | {a * 100:.0f}% | {a / b:.2f} |')
