"""The core does no I/O: it may import only pure modules."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "bgpsteer" / "core"
ALLOWED = {
    "__future__",
    "collections",
    "dataclasses",
    "typing",
    "ipaddress",
    "re",
    "math",
    "enum",
    "itertools",
    "functools",
    "bgpsteer",
}
# a mutation-testing run (mutmut) rewrites the core's copy in mutants/ to call its own switchboard
MUTATED = "mutants" in CORE.parts


def test_core_imports_only_pure_modules() -> None:
    bad = []
    for path in CORE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if MUTATED and name == "mutmut.mutation.trampoline":
                    continue
                top = name.split(".")[0]
                if top not in ALLOWED or (top == "bgpsteer" and not name.startswith("bgpsteer.core")):
                    bad.append(f"{path.name}: {name}")
    assert not bad, f"core modules import I/O or adapter modules: {bad}"
