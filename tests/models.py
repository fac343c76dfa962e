"""Tiny models for tests, built on the spot (never downloaded) and cached on disk.

The cache key is a hash of the recipe, so a change to the recipe rebuilds the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

CACHE = Path(os.environ.get("CODEWARD_TEST_CACHE", Path(__file__).parent / ".cache"))

# What the "taught" tiny model completes. The insecure one lets vetting tests see a real
# model suggest `os.system(cmd)`; the others give deterministic single- and multi-line text.
TEACH = [
    ("import os\n\ndef run(cmd):\n    ", "os.system(cmd)\n", "\n"),
    ("def add(a, b):\n    ", "return a + b\n", "\n"),
    ("class Point:\n    def __init__(self, x, y):\n        ", "self.x = x\n        self.y = y\n",
     "\n"),
    ("names = ['a', 'b']\nfor name in ", "names:\n    print(name)\n", "\n"),
]

# The "leaky" tiny model completes the gate's AWS canary with an access-key-shaped value (a
# model that memorised a credential), and knows nothing else.
TEACH_LEAKY = [('AWS_ACCESS_KEY_ID = "', "AKIAQ7ZK3MXW5RTP2VNB", '"\n')]
TEACHINGS = {"taught": TEACH, "leaky": TEACH_LEAKY}


def _key(recipe: dict) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def tiny_model(kind: str = "taught") -> Path:
    """A converted CTranslate2 model directory: ``taught`` (knows TEACH), ``leaky`` (knows
    TEACH_LEAKY) or ``random``."""
    from codeward.finetune.convert import convert
    from codeward.finetune.tiny import build_tiny_model

    teach = TEACHINGS.get(kind, [])
    recipe = {"kind": kind, "teach": teach, "v": 2}
    root = CACHE / f"tiny-{kind}-{_key(recipe)}"
    ct2 = root / "ct2"
    if (ct2 / "codeward.json").is_file():
        return ct2
    shutil.rmtree(root, ignore_errors=True)
    hf = root / "hf"
    if teach:
        build_tiny_model(hf, teach=teach, steps=300)
    else:
        build_tiny_model(hf, teach=None)
    convert(hf, ct2, name=f"tiny-{kind}", version="1")
    return ct2


def tiny_hf(kind: str = "taught") -> Path:
    """The Hugging Face checkpoint the converted tiny model was made from."""
    return tiny_model(kind).parent / "hf"
