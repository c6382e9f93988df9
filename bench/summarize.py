#!/usr/bin/env python3
"""Medians of the RESULT lines written by vs_peers.sh, and ferrograph's ratios."""
import json, os, statistics, sys
from collections import defaultdict

task, out = sys.argv[1], sys.argv[2]
runs = defaultdict(list)
for name in sorted(os.listdir(out)):
    if not name.endswith('.log'):
        continue
    for line in open(os.path.join(out, name)):
        if line.startswith('RESULT '):
            r = json.loads(line[7:])
            key = (r.get('peer') or r.get('system'), r.get('threads'))
            runs[key].append(r)

def med(rs, k):
    v = [r[k] for r in rs if r.get(k) is not None]
    return statistics.median(v) if v else None

if task == 'train':
    print('| system | threads | steps/s | peak RSS MB | wait fraction | runs |')
    print('|---|---|---|---|---|---|')
    table = {}
    for k, rs in sorted(runs.items(), key=lambda x: (x[0][0], x[0][1])):
        rss = med(rs, 'peak_rss_mb') or med(rs, 'peak_rss_mb_self')
        table[k] = (med(rs, 'steps_per_s'), rss, med(rs, 'wait_fraction'), len(rs))
    for (s, t), (sps, rss, w, n) in table.items():
        f = lambda x, fmt: '–' if x is None else format(x, fmt)
        print(f'| {s} | {t} | {f(sps, ".2f")} | {f(rss, ",.0f")} | {f(w, ".3f")} | {n} |')
    print()
    for (s, t), (sps, rss, _, _) in table.items():
        if s != 'ferrograph' or not sps:
            continue
        for (p, pt), (psps, prss, _, _) in table.items():
            if pt == t and p != 'ferrograph' and psps:
                print(f'train, {t} thread(s): ferrograph {sps / psps:.2f}x the steps/s of {p}; peak RSS {rss:,.0f} vs {prss:,.0f} MB')
    sys.exit(0)

if task == 'sample':
    print('| system | threads | seeds/s | sampled edges/s | runs |')
    print('|---|---|---|---|---|')
    table = {k: (med(rs, 'seeds_per_s'), med(rs, 'edges_per_s'), len(rs)) for k, rs in sorted(runs.items(), key=lambda x: (x[0][0], x[0][1]))}
    for (s, t), (sps, eps, n) in table.items():
        print(f'| {s} | {t} | {sps:,.0f} | {eps / 1e6:.2f} M | {n} |' if sps and eps else f'| {s} | {t} | – | – | {n} |')
    print()
    for (s, t), (sps, eps, _) in table.items():
        if s != 'ferrograph':
            continue
        peers = {p: v for (p, pt), v in table.items() if pt == t and p != 'ferrograph' and v[0]}
        for p, (psps, peps, _) in peers.items():
            print(f'sample, {t} thread(s): ferrograph {sps / psps:.1f}x the seeds/s and {eps / peps:.1f}x the edges/s of {p}')
    sys.exit(0)

rows = {}
for (sys_, t), rs in sorted(runs.items(), key=lambda x: (x[0][0], x[0][1])):
    build = med(rs, 'build_s') if sys_ != 'graph-learn' else None
    tsv = med(rs, 'tsv_import_s') if sys_ == 'ferrograph' else (med(rs, 'build_s') if sys_ == 'graph-learn' else None)
    rows[(sys_, t)] = dict(build=build, tsv=tsv, n=len(rs), rss=med(rs, 'build_rss_delta_mb'), bpe=med(rs, 'build_bytes_per_edge'))

print('| system | threads | build from arrays s | TSV import s | runs | bytes/edge |')
print('|---|---|---|---|---|---|')
for (s, t), v in rows.items():
    f = lambda x: '–' if x is None else f'{x:.3f}'
    print(f"| {s} | {t} | {f(v['build'])} | {f(v['tsv'])} | {v['n']} | {v['bpe'] if v['bpe'] else '–'} |")
print()
for (s, t), v in rows.items():
    if s != 'ferrograph':
        continue
    for peer in ('dgl', 'pyg', 'glt'):
        p = rows.get((peer, t))
        if p and p['build'] and v['build']:
            print(f'build, {t} thread(s): ferrograph is {p["build"] / v["build"]:.1f}x faster than {peer}')
    gl = rows.get(('graph-learn', 1))
    if gl and gl['tsv'] and v['tsv']:
        print(f'TSV import, ferrograph {t} thread(s) vs graph-learn 1 thread: {gl["tsv"] / v["tsv"]:.1f}x faster')
