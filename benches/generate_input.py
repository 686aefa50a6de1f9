#!/usr/bin/env python3
"""Writes a realistic bulk-reply CSV: a mass notice with a name per row, one ticket per row.

usage: generate_input.py ROWS OUT.csv

Deterministic (fixed seed), ~100 bytes per row: 1,000,000 rows make ~100 MB. One message in
a hundred is written over several lines (a quoted field with line breaks), as spreadsheets do.
"""
import csv
import random
import sys

FIRST = ["Jan", "Sanne", "Emma", "Peter", "Olivia", "Lotte", "Daan", "Noah", "Fleur", "Sem",
         "Anna", "Bram", "Julia", "Liam", "Tess", "Ruben", "Chloé", "Sophie", "Lucas", "Mia"]
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def main():
    rows, path = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(20261124)
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["ticketId", "customer", "message"])
        for row in range(rows):
            ticket = "tic_" + "".join(rng.choice(ALNUM) for _ in range(10)) + f"{row:06x}"
            name = rng.choice(FIRST)
            if row % 100 == 0:
                message = f"<p>Beste {name},</p>\n<p>Storing opgelost, excuses.</p>"
            else:
                message = f"<p>Beste {name}, de storing van 2 december is opgelost. Excuses!</p>"
            writer.writerow([ticket, f"{name} {row}", message])


if __name__ == "__main__":
    main()
