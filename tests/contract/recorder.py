"""A do-nothing ExaBGP helper that records every line ExaBGP writes to it.

Used only by capture.py to produce the contract-test captures.  With a second argument (a file of
command lines) it sends those commands once the IPv4 session is up, one every half second, so the
capture also pins ExaBGP's answers (acks, `show neighbor summary`, `show adj-rib out extensive`).
"""

import sys
import time

commands = open(sys.argv[2], encoding="utf-8").read().splitlines() if len(sys.argv) > 2 else []
with open(sys.argv[1], "a", encoding="utf-8") as out:
    for line in sys.stdin:
        out.write(line)
        out.flush()
        if commands and '"state": "up"' in line and "10.250.1.2" in line:
            time.sleep(1.0)
            for command in commands:
                sys.stdout.write(command + "\n")
                sys.stdout.flush()
                time.sleep(0.5)
            commands = []
