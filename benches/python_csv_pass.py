#!/usr/bin/env python3
"""The peer to beat: a bare Python csv.reader pass over a file, counting rows, no checks."""
import csv
import sys

with open(sys.argv[1], newline="", encoding="utf-8") as f:
    rows = sum(1 for _ in csv.reader(f))
print(rows)
