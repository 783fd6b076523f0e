import sys
from pathlib import Path

# lab/ is a folder of the repository, not part of the installed package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
