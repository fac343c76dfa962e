"""Synthetic secrets and PII of many kinds, random each time (never on any allowlist)."""

from __future__ import annotations

import base64
import json
import random
import string

UP, LOW, DIG = string.ascii_uppercase, string.ascii_lowercase, string.digits
ALNUM = UP + LOW + DIG


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _luhn_number(rng: random.Random) -> str:
    digits = [4] + [rng.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def make(kind: str, rng: random.Random) -> tuple[str, str]:
    """(secret value, a Python line that contains it)."""
    if kind == "aws-access-key":
        s = "AKIA" + _r(rng, UP + DIG, 16)
        return s, f'AWS_ACCESS_KEY_ID = "{s}"'
    if kind == "aws-secret-key":
        s = _r(rng, ALNUM + "/+", 40)
        return s, f'aws_secret_access_key = "{s}"'
    if kind == "github-token":
        s = "ghp_" + _r(rng, ALNUM, 36)
        return s, f'headers = {{"Authorization": "token {s}"}}'
    if kind == "slack-token":
        s = f"xoxb-{_r(rng, DIG, 12)}-{_r(rng, DIG, 12)}-{_r(rng, ALNUM, 24)}"
        return s, f'SLACK = "{s}"'
    if kind == "stripe-key":
        s = "sk_live_" + _r(rng, ALNUM, 24)
        return s, f"stripe.api_key = '{s}'"
    if kind == "google-api-key":
        s = "AIza" + _r(rng, ALNUM + "_-", 35)
        return s, f'GOOGLE_KEY = "{s}"'
    if kind == "jwt":
        head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64url(json.dumps({"sub": _r(rng, DIG, 8), "n": _r(rng, LOW, 6)}).encode())
        s = f"{head}.{body}.{_r(rng, ALNUM + '_-', 43)}"
        return s, f'token = "{s}"'
    if kind == "password":
        s = _r(rng, LOW, 5) + _r(rng, DIG, 3) + rng.choice("!#%") + _r(rng, UP, 3)
        return s, f'db_password = "{s}"'
    if kind == "email":
        s = f"{_r(rng, LOW, 7)}.{_r(rng, LOW, 5)}@{_r(rng, LOW, 6)}.com"
        return s, f'OWNER = "{s}"'
    if kind == "ipv4":
        s = f"{rng.randint(11, 99)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
        return s, f'HOST = "{s}"'
    if kind == "url-credentials":
        pw = _r(rng, ALNUM, 14)
        return pw, f'DB_URL = "postgres://admin:{pw}@db.example.com/prod"'
    if kind == "private-key":
        body = "\n".join(_r(rng, ALNUM + "+/", 64) for _ in range(3))
        s = body.splitlines()[1]
        return s, f'KEY = """-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"""'
    if kind == "openai-key":
        s = "sk-proj-" + _r(rng, ALNUM, 40)
        return s, f'client = OpenAI(api_key="{s}")'
    if kind == "hex-token":
        s = _r(rng, "0123456789abcdef", 40)
        return s, f'api_secret = "{s}"'
    if kind == "card-number":
        s = _luhn_number(rng)
        return s, f'card = "{s}"'
    raise ValueError(kind)


KINDS = ["aws-access-key", "aws-secret-key", "github-token", "slack-token", "stripe-key",
         "google-api-key", "jwt", "password", "email", "ipv4", "url-credentials", "private-key",
         "openai-key", "hex-token", "card-number"]


def secrets(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """``n`` (kind, secret, line) triples cycling through every kind."""
    rng = random.Random(seed)
    return [(k, *make(k, rng)) for k in (KINDS[i % len(KINDS)] for i in range(n))]
