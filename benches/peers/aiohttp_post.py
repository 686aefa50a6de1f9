#!/usr/bin/env python3
"""The asyncio + aiohttp script a team would write instead of bulk-reply: post every row of a
ticketId,message CSV with C requests in flight, retrying 429, 5xx and connection errors with
exponential backoff (honouring retry-after). No journal, no results file.

Usage: MKP_API_TOKEN=... aiohttp_post.py INPUT.csv BASE_URL CONCURRENCY
Prints the number of rows delivered; exits 1 if any row failed.
"""
import asyncio
import csv
import os
import random
import sys

import aiohttp

MAX_ATTEMPTS = 8
RETRYABLE = {429, 500, 502, 503, 504}


async def post(session, url, message):
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with session.post(url, json={"message": message}) as response:
                await response.read()
                if response.status < 300:
                    return True
                if response.status not in RETRYABLE or attempt == MAX_ATTEMPTS:
                    return False
                delay = float(response.headers.get("retry-after", 0)) or 0.5 * 2 ** (attempt - 1)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            if attempt == MAX_ATTEMPTS:
                return False
            delay = 0.5 * 2 ** (attempt - 1)
        await asyncio.sleep(delay * random.uniform(0.5, 1.0))
    return False


async def main(path, base_url, concurrency):
    headers = {"Authorization": f"Bearer {os.environ['MKP_API_TOKEN']}"}
    queue = asyncio.Queue(maxsize=concurrency * 2)
    delivered = failed = 0

    async def worker(session):
        nonlocal delivered, failed
        while (row := await queue.get()) is not None:
            ok = await post(session, f"{base_url}/tickets/{row[0]}", row[1])
            delivered += ok
            failed += not ok

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(headers=headers, connector=connector, timeout=timeout) as session:
        workers = [asyncio.create_task(worker(session)) for _ in range(concurrency)]
        with open(path, newline="") as f:
            rows = csv.reader(f)
            next(rows)
            for row in rows:
                await queue.put(row)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    print(delivered)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
