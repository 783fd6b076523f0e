"""A do-nothing ExaBGP helper that records every line ExaBGP writes to it.

Used only by capture.py to produce the contract-test captures.
"""

import sys

with open(sys.argv[1], "a", encoding="utf-8") as out:
    for line in sys.stdin:
        out.write(line)
        out.flush()
