from __future__ import annotations

import sys
from pathlib import Path

# the real-server client helpers of the server tests
sys.path.insert(0, str(Path(__file__).parent.parent / "server"))
