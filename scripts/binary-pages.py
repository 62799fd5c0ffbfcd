#!/usr/bin/env python3
"""Which of a process's own executable pages are resident, by ELF section.

    scripts/binary-pages.py PID

Reads /proc/PID/maps and /proc/PID/pagemap (the present bit needs no
privilege for one's own processes; root reads any) and the executable's
section headers (readelf, binutils), and prints a Markdown table: resident
KiB of each section of the file mapped by the process, beside its size.
scripts/bench-hybrid.sh prints it for the fresh 100 x 20 gateway
(docs/benchmarks.md, "Idle footprint").
"""
import os
import re
import struct
import subprocess
import sys

pid = int(sys.argv[1])
exe = os.readlink(f"/proc/{pid}/exe")
secs = []
out = subprocess.run(["readelf", "-SW", f"/proc/{pid}/exe"], capture_output=True, text=True, check=True).stdout
for line in out.splitlines():
    m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
    if m and int(m.group(2), 16):
        secs.append((m.group(1), int(m.group(2), 16), int(m.group(3), 16)))
resident = {}
with open(f"/proc/{pid}/pagemap", "rb") as pm:
    for line in open(f"/proc/{pid}/maps"):
        f = line.split()
        if len(f) < 6 or f[5] != exe:
            continue
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        pm.seek(lo // 4096 * 8)
        words = pm.read((hi - lo) // 4096 * 8)
        for i in range(0, len(words), 8):
            if struct.unpack_from("<Q", words, i)[0] >> 63 & 1:
                a = lo + i // 8 * 4096
                name = next((n for n, s, z in secs if s <= a < s + z), "(other)")
                resident[name] = resident.get(name, 0) + 4
size = {n: z // 1024 for n, s, z in secs}
print("| section | resident KiB | size KiB |")
print("|---|---|---|")
for n, k in sorted(resident.items(), key=lambda x: -x[1]):
    print(f"| {n} | {k} | {size.get(n, 0)} |")
print(f"| all | {sum(resident.values())} | |")
