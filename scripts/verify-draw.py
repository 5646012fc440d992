#!/usr/bin/env python3
"""Check a queue's draw and print its order (ARCHITECTURE.md, "The draw").

At a scheduled opening the gateway places every pre-queue ticket in
ascending order of lowercase hex SHA-256(draw_seed + ticket id), where the
ticket id is the lowercase, hyphenated UUID, both as ASCII. Before the
opening it published draw_commitment = lowercase hex SHA-256(draw_seed);
from the opening on it publishes draw_seed. This script checks the seed
against the commitment and prints the order of the ticket ids it is given.

    scripts/verify-draw.py --stats https://tickets.example/v1/concerts/42/queue IDS...
    scripts/verify-draw.py --seed SEED --commitment COMMITMENT IDS...
    scripts/verify-draw.py --seed SEED --commitment COMMITMENT --ids-file ids.txt

--stats reads draw_seed and draw_commitment from the queue's public numbers
(GET /v1/concerts/{concert_id}/queue). A commitment you noted before the
opening (from your pre-queue status) can be given with --commitment next to
--stats: it must equal the published one. Ticket ids come from the command
line and/or --ids-file (one per line, "-" for standard input).

Output: one line per ticket, "<rank> <ticket id> <draw key>", rank 1 first.
Exit status: 0 when the seed matches the commitment, 1 when it does not, 2
for bad input (nothing is printed then). Python 3 standard library only.
"""

import argparse
import hashlib
import json
import re
import sys
import urllib.request
import uuid

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(text):
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def draw_key(seed, ticket_id):
    """The key a ticket is drawn by: hex SHA-256 of seed + ticket id."""
    return sha256_hex(seed + ticket_id)


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def canonical_ticket(text):
    """A ticket id as the draw hashes it: lowercase, hyphenated."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        fail(f"not a ticket id (UUID): {text.strip()!r}")


def read_stats(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            stats = json.load(response)
    except (OSError, ValueError) as e:
        fail(f"could not read the queue's public numbers at {url}: {e}")
    if not isinstance(stats, dict):
        fail(f"{url} did not answer a JSON object")
    return stats.get("draw_seed"), stats.get("draw_commitment")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Check a queue draw's seed against its commitment and print the order."
    )
    parser.add_argument("--stats", help="the queue's public numbers URL, GET /v1/concerts/{id}/queue")
    parser.add_argument("--seed", help="the published draw_seed (64 lowercase hex characters)")
    parser.add_argument("--commitment", help="draw_commitment, published before the opening")
    parser.add_argument("--ids-file", help="ticket ids, one per line ('-' for standard input)")
    parser.add_argument("ids", nargs="*", help="ticket ids")
    args = parser.parse_args(argv)

    seed, commitment = args.seed, args.commitment
    if args.stats:
        published_seed, published_commitment = read_stats(args.stats)
        if seed is None:
            seed = published_seed
        if commitment is None:
            commitment = published_commitment
        elif published_commitment is not None and published_commitment != commitment:
            print(
                f"MISMATCH: the published commitment {published_commitment} "
                f"is not the one given, {commitment}"
            )
            return 1
    if seed is None:
        fail("no draw_seed: it is published at the opening (give --seed or --stats after it)")
    if commitment is None:
        fail("no draw_commitment (give --commitment or --stats)")
    if not HEX64.match(seed):
        fail("draw_seed must be 64 lowercase hex characters")
    if not HEX64.match(commitment):
        fail("draw_commitment must be 64 lowercase hex characters")

    ids = list(args.ids)
    if args.ids_file:
        handle = sys.stdin if args.ids_file == "-" else open(args.ids_file, encoding="ascii")
        with handle:
            ids.extend(line for line in handle if line.strip())
    tickets = sorted({canonical_ticket(t) for t in ids}, key=lambda t: draw_key(seed, t))

    if sha256_hex(seed) != commitment:
        print(f"MISMATCH: SHA-256 of the seed is {sha256_hex(seed)}, the commitment is {commitment}")
        return 1
    print(f"# seed matches the commitment {commitment}", file=sys.stderr)
    for rank, ticket in enumerate(tickets, start=1):
        print(rank, ticket, draw_key(seed, ticket))
    return 0


if __name__ == "__main__":
    sys.exit(main())
