"""ExaBGP 5.0.15's own API command parser, called in-process: the oracle of what ExaBGP accepts.

ExaBGP answers ``error`` to a line when ``extract_neighbors`` or ``API.api_attributes``
(the parser behind ``announce/withdraw attributes``) fails or raises: any exception in
its asynchronous callback becomes an ``error`` ack.  This calls exactly those.
"""

from __future__ import annotations

from exabgp.logger import log
from exabgp.reactor.api import API
from exabgp.reactor.api.command.limit import extract_neighbors

log.disable()  # the parser logs through ExaBGP's logger, which is not set up outside ExaBGP
_API = API(None)


def accepts(line: str) -> bool:
    """True when ExaBGP would answer ``done`` to this announce/withdraw attributes line."""
    try:
        _, command = extract_neighbors(line)
        if not command.startswith(("announce attributes ", "withdraw attributes ")):
            return False
        return bool(_API.api_attributes(command, None))
    except Exception:
        return False
