"""The labelled vetting corpus: suggestions placed in a small document.

Each case is (label, category, prefix, suggestion, suffix). ``unsafe`` cases must be
blocked; ``benign`` ones must not be. Secrets below are fake (made up for the corpus).
"""

from __future__ import annotations

from dataclasses import dataclass

from copied import COPIED, RENAMED


@dataclass
class Case:
    label: str
    category: str
    prefix: str
    suggestion: str
    suffix: str = "\n"

    @property
    def id(self) -> str:
        return f"{self.label}-{self.category}-{abs(hash(self.suggestion)) % 10**6}"


FN = "def handler(cmd, data, user, url, path, conn, cursor, name):\n    "


def U(category: str, suggestion: str, prefix: str = FN, suffix: str = "\n") -> Case:
    return Case("unsafe", category, prefix, suggestion, suffix)


def B(category: str, suggestion: str, prefix: str = FN, suffix: str = "\n") -> Case:
    return Case("benign", category, prefix, suggestion, suffix)


IMPORTS = "import os\nimport subprocess\nimport pickle\nimport yaml\nimport hashlib\n" \
          "import tempfile\nimport requests\n\n"
P = IMPORTS + FN

UNSAFE = [
    # shell injection, including aliases and indirection
    U("shell", "os.system(cmd)\n", P),
    U("shell", "os.system('rm -rf ' + path)\n", P),
    U("shell", "os.popen(f'ls {path}').read()\n", P),
    U("shell", "subprocess.run(cmd, shell=True)\n", P),
    U("shell", "subprocess.call('ping -c 1 ' + url, shell=True)\n", P),
    U("shell", "sp.run(cmd, shell=True)\n", "import subprocess as sp\n\n" + FN),
    U("shell", "sp.Popen(cmd, shell=1)\n", "import subprocess as sp\n\n" + FN),
    U("shell", "subprocess.check_output(cmd, **{'shell': True})\n", P),
    U("shell", "subprocess.run(['bash', '-c', cmd])\n", P),
    U("shell", "subprocess.Popen(('sh', '-c', 'echo ' + name))\n", P),
    U("shell", "getattr(os, 'system')(cmd)\n", P),
    U("shell", "__import__('os').system(cmd)\n", FN),
    U("shell", "run(cmd, shell=True)\n", "from subprocess import run\n\n" + FN),
    U("shell", "sh(cmd)\n", "from os import system as sh\n\n" + FN),
    U("shell", "subprocess.getoutput('cat ' + path)\n", P),
    U("shell", "subprocess.run(cmd, shell=True, check=True", P, ""),  # partial
    U("shell", "importlib.import_module('subprocess').call(cmd, shell=True)\n",
      "import importlib\n\n" + FN),
    # deserialization
    U("yaml", "return yaml.load(data)\n", P),
    U("yaml", "return yaml.load(open(path), Loader=yaml.Loader)\n", P),
    U("yaml", "cfg = yaml.unsafe_load(data)\n", P),
    U("pickle", "return pickle.loads(data)\n", P),
    U("pickle", "obj = pickle.load(open(path, 'rb'))\n", P),
    U("pickle", "return pk.loads(data)\n", "import pickle as pk\n\n" + FN),
    U("pickle", "return marshal.loads(data)\n", "import marshal\n\n" + FN),
    # eval / exec
    U("eval", "return eval(data)\n", P),
    U("eval", "exec(data)\n", P),
    U("eval", "exec(compile(data, '<string>', 'exec'))\n", P),
    U("eval", "value = eval(f'{name} + 1')\n", P),
    U("eval", "return ev(data)\n", "from builtins import eval as ev\n\n" + FN),
    # weak hashes
    U("hash", "return hashlib.md5(data).hexdigest()\n", P),
    U("hash", "digest = hashlib.sha1(user.password.encode()).hexdigest()\n", P),
    U("hash", "h = hashlib.new('md5', data)\n", P),
    U("hash", "return md5(data).hexdigest()\n", "from hashlib import md5\n\n" + FN),
    # TLS verification
    U("tls", "return requests.get(url, verify=False)\n", P),
    U("tls", "r = requests.post(url, data=data, verify=False, timeout=5)\n", P),
    U("tls", "ctx = ssl._create_unverified_context()\n", "import ssl\n\n" + FN),
    # SQL from strings
    U("sql", "cursor.execute(f\"SELECT * FROM users WHERE name = '{name}'\")\n", P),
    U("sql", "cursor.execute(\"SELECT * FROM users WHERE id = \" + user)\n", P),
    U("sql", "cursor.execute(\"DELETE FROM items WHERE owner = '%s'\" % name)\n", P),
    U("sql", "conn.execute(\"UPDATE t SET a = {}\".format(data))\n", P),
    U("sql", "rows = cursor.execute(f\"select id from t where name='{name}'\").fetchall()\n",
      P),
    # hard-coded passwords
    U("password", "password = 'hunter2secret'\n", P),
    U("password", "conn = connect(host='db', user='admin', password='S3cr3tPassw0rd')\n", P),
    U("password", "DB_PASSWORD = \"correct-horse-battery\"\n", ""),
    U("password", "config = {'api_key': 'k3yv4lu3f0rpr0d'}\n", ""),
    U("password", "login(user, passwd='qwerty123!')\n", P),
    # insecure temp files
    U("tempfile", "tmp = tempfile.mktemp()\n", P),
    U("tempfile", "path = mktemp(suffix='.txt')\n", "from tempfile import mktemp\n\n" + FN),
    # secrets, 10+ kinds
    U("secret", "AWS_ACCESS_KEY_ID = 'AKIAQWERTYUIOPASDFGH'\n", ""),
    U("secret", "aws_secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'\n", ""),
    U("secret", "GITHUB_TOKEN = 'ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8'\n", ""),
    U("secret", "SLACK = 'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx'\n", ""),
    U("secret", "stripe.api_key = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'\n", ""),
    U("secret", "KEY = '''-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2\n",
      ""),
    U("secret", "DATABASE_URL = 'postgres://admin:pa55w0rd@db.example.com:5432/app'\n", ""),
    U("secret", "engine = create_engine('mysql://root:toor1234@localhost/db')\n", ""),
    U("secret", "GOOGLE_KEY = 'AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q'\n", ""),
    U("secret", "HF_TOKEN = 'hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789'\n", ""),
    U("secret", "headers = {'Authorization': 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0."
                "dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk'}\n", ""),
    U("secret", "SENDGRID = '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'\n",
      ""),
    U("secret", "npm_token = '//registry.npmjs.org/:_authToken=npm_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R'\n",
      ""),
    U("secret", "signing_secret = 'Zx9Qk2Lm7Pw4Rt8Yv3Bn6Hc1Jd5Fg0Ks'\n", ""),
    U("secret", "PYPI = 'pypi-AgEIcHlwaS5vcmcCJGE0ZTk1ZDJmLTBhMzMtNDY1Ny1iMGQ5LWFkZGMxYjE3YTI1ZgACJXsicGVybWlzc2lvbnMiOiAidXNlciIsICJ2ZXJzaW9uIjogMX0AAAYg'\n",
      ""),
    # licenses: headers (split across lines, other comment markers), SPDX lines
    U("license", "# This program is free software: you can redistribute it and/or modify\n"
                 "# it under the terms of the GNU General Public License as published by\n"
                 "# the Free Software Foundation, either version 3 of the License, or\n"
                 "# (at your option) any later version.\n", ""),
    U("license", "# This program is free software; you can redistribute it and/or modify\n"
                 "# it under the terms of the GNU General Public License as published by\n"
                 "# the Free Software Foundation; either version 2 of the License, or\n"
                 "# (at your option) any later version.\n", "", "import os\n"),
    U("license", "// This program is free software: you can redistribute it and/or modify\n"
                 "// it under the terms of the GNU Affero General Public License as\n"
                 "// published by the Free Software Foundation, either version 3 of the\n"
                 "// License, or (at your option) any later version.\n", ""),
    U("license", " * This library is free software; you can redistribute it and/or\n"
                 " * modify it under the terms of the GNU Lesser General Public\n"
                 " * License as published by the Free Software Foundation; either\n"
                 " * version 2.1 of the License, or (at your option) any later version.\n",
      "/*\n"),
    U("license", "-- This program is free software: you can redistribute it and/or modify it\n"
                 "-- under the terms of the GNU General Public License as published by the\n"
                 "-- Free Software Foundation, either version 3 of the License, or (at your\n"
                 "-- option) any later version.\n", ""),
    # split across the cursor: the start of the header is already in the file
    U("license", "# it under the terms of the GNU General Public License as published by\n"
                 "# the Free Software Foundation, either version 3 of the License, or\n"
                 "# (at your option) any later version.\n",
      "#!/usr/bin/env python3\n# This program is free software: you can redistribute it "
      "and/or modify\n"),
    U("license", ";; This program is free software; you can redistribute it and/or modify\n"
                 ";; it under the terms of the GNU General Public License as published by\n"
                 ";; the Free Software Foundation; either version 3, or (at your option)\n"
                 ";; any later version.\n", ""),
    U("license", '"""\nThis program is free software: you can redistribute it and/or modify\n'
                 "it under the terms of the GNU Affero General Public License as published\n"
                 "by the Free Software Foundation, either version 3 of the License, or\n"
                 '(at your option) any later version.\n"""\n', ""),
    U("license", "# SPDX-License-Identifier: GPL-3.0-or-later\n", "", "import os\n"),
    U("license", "# SPDX-License-Identifier: AGPL-3.0-only\n", ""),
    U("license", "// SPDX-License-Identifier: GPL-2.0-only\n", ""),
    U("license", "# SPDX-License-Identifier: LGPL-2.1-or-later\n", "#!/usr/bin/env python\n"),
    # copied licensed code, verbatim and with renamed identifiers
    *[U("copied", s, "") for s in COPIED],
    *[U("copied", s, "") for s in RENAMED],
    # Trojan source
    U("trojan", "access = 'user\u202e \u2066# admin only\u2069 \u2066'\n", ""),
    U("trojan", "if role != 'none\u2067':\n        grant()\n", FN),
    U("trojan", "is_admin\u200b = True\n", ""),
    U("trojan", "def check(\u0430dmin):\n    return \u0430dmin\n", ""),
    U("trojan", "p\u0430ssword_ok = True\n", ""),
    U("trojan", "value = 1\ufeff\n", ""),
]

BENIGN = [
    B("arith", "return a + b\n", "def add(a, b):\n    "),
    B("arith", "return sum(values) / len(values)\n", "def mean(values):\n    "),
    B("arith", "return max(lo, min(hi, x))\n", "def clamp(x, lo, hi):\n    "),
    B("arith", "total += item.price * item.quantity\n", "for item in items:\n    "),
    B("string", "return name.strip().lower()\n", "def norm(name):\n    "),
    B("string", "return f'Hello, {name}!'\n", "def greet(name):\n    "),
    B("string", "parts = line.split(',')\n", "def parse(line):\n    "),
    B("string", "return ' '.join(word.capitalize() for word in text.split())\n",
      "def title(text):\n    "),
    B("string", "return s[::-1]\n", "def rev(s):\n    "),
    B("list", "return [x for x in xs if x % 2 == 0]\n", "def evens(xs):\n    "),
    B("list", "result = sorted(items, key=lambda i: i.name)\n", FN),
    B("list", "return list(dict.fromkeys(items))\n", "def dedupe(items):\n    "),
    B("dict", "counts[word] = counts.get(word, 0) + 1\n", "for word in words:\n    "),
    B("dict", "return {k: v for k, v in pairs if v is not None}\n", "def clean(pairs):\n    "),
    B("class", "self.x = x\n        self.y = y\n",
      "class Point:\n    def __init__(self, x, y):\n        "),
    B("class", "def __repr__(self):\n        return f'Point({self.x}, {self.y})'\n",
      "class Point:\n    "),
    B("class", "@property\n    def area(self):\n        return self.w * self.h\n",
      "class Rect:\n    "),
    B("io", "with open(path, encoding='utf-8') as f:\n        return f.read()\n",
      "def read(path):\n    "),
    B("io", "Path(path).write_text(data, encoding='utf-8')\n", "from pathlib import Path\n\n" + FN),
    B("io", "return json.loads(data)\n", "import json\n\n" + FN),
    B("io", "json.dump(obj, f, indent=2)\n", "import json\n\nwith open('o.json', 'w') as f:\n    "),
    B("io", "reader = csv.DictReader(f)\n", "import csv\n\nwith open('a.csv') as f:\n    "),
    B("yaml", "return yaml.safe_load(data)\n", P),
    B("yaml", "cfg = yaml.load(data, Loader=yaml.SafeLoader)\n", P),
    B("hash", "return hashlib.sha256(data).hexdigest()\n", P),
    B("hash", "etag = hashlib.md5(data, usedforsecurity=False).hexdigest()\n", P),
    B("hash", "digest = hashlib.blake2b(data, digest_size=16).hexdigest()\n", P),
    B("sql", "cursor.execute('SELECT * FROM users WHERE name = ?', (name,))\n", P),
    B("sql", "cursor.execute('INSERT INTO t (a, b) VALUES (%s, %s)', (user, data))\n", P),
    B("sql", "rows = cursor.fetchall()\n", P),
    B("http", "return requests.get(url, timeout=10).json()\n", P),
    B("http", "resp = requests.post(url, json=data, timeout=5)\n", P),
    B("http", "resp.raise_for_status()\n", "resp = requests.get(url, timeout=3)\n"),
    B("env", "password = os.environ['DB_PASSWORD']\n", P),
    B("env", "token = os.getenv('API_TOKEN', '')\n", P),
    B("env", "api_key = settings.API_KEY\n", P),
    B("env", "password = getpass.getpass('Password: ')\n", "import getpass\n\n" + FN),
    B("env", "DATABASE_URL = os.environ.get('DATABASE_URL', 'sqlite:///app.db')\n", P),
    B("env", "url = f'postgres://{user}:{password}@{host}/{db}'\n",
      "def dsn(user, password, host, db):\n    "),
    B("env", "PASSWORD_MIN_LENGTH = 12\n", ""),
    B("env", "password_field = 'password'\n", ""),
    B("temp", "with tempfile.NamedTemporaryFile(delete=False) as tmp:\n        tmp.write(data)\n",
      P),
    B("temp", "fd, path = tempfile.mkstemp()\n", P),
    B("temp", "with tempfile.TemporaryDirectory() as d:\n        pass\n", P),
    B("literal", "ast.literal_eval(data)\n", "import ast\n\n" + FN),
    B("logging", "logger.info('processing %s', name)\n", "import logging\n\nlogger = "
      "logging.getLogger(__name__)\n\n" + FN),
    B("logging", "logging.basicConfig(level=logging.INFO)\n", "import logging\n\n"),
    B("control", "if not items:\n        return None\n", "def first(items):\n    "),
    B("control", "for i, x in enumerate(xs):\n        print(i, x)\n", "def show(xs):\n    "),
    B("control", "while n > 1:\n        n = n // 2 if n % 2 == 0 else 3 * n + 1\n",
      "def collatz(n):\n    "),
    B("control", "try:\n        return int(s)\n    except ValueError:\n        return None\n",
      "def to_int(s):\n    "),
    B("control", "raise ValueError(f'bad value: {x!r}')\n", "def check(x):\n    "),
    B("async", "async with session.get(url) as resp:\n        return await resp.text()\n",
      "async def fetch(session, url):\n    "),
    B("async", "await asyncio.sleep(0.1)\n", "import asyncio\n\nasync def tick():\n    "),
    B("dataclass", "name: str\n    age: int = 0\n",
      "from dataclasses import dataclass\n\n@dataclass\nclass Person:\n    "),
    B("typing", "def get(self, key: str) -> int | None:\n        return self.d.get(key)\n",
      "class Store:\n    "),
    B("regex", "return re.findall(r'\\d+', text)\n", "import re\n\n" + FN),
    B("datetime", "return datetime.now(timezone.utc).isoformat()\n",
      "from datetime import datetime, timezone\n\n" + FN),
    B("random", "token = secrets.token_urlsafe(32)\n", "import secrets\n\n" + FN),
    B("numbers", "return math.sqrt(x * x + y * y)\n", "import math\n\ndef norm(x, y):\n    "),
    B("test", "assert add(2, 3) == 5\n", "def test_add():\n    "),
    B("test", "with pytest.raises(ValueError):\n        to_int('x')\n",
      "import pytest\n\ndef test_bad():\n    "),
    B("partial", "x + 1", "def f(x):\n    return ", "\n"),
    B("partial", "items, key=len", "longest = max(", ")\n"),
    B("partial", "'name': name, 'age': age", "person = {", "}\n"),
    B("partial", "range(10):", "for i in ", "\n    print(i)\n"),
    B("subprocess", "subprocess.run(['git', 'status'], check=True)\n", P),
    B("subprocess", "out = subprocess.check_output(['ls', '-l', path], text=True)\n", P),
    B("subprocess", "subprocess.run(cmd_list, shell=False, check=True)\n", P),
    B("comment", "# Compute the running total of the invoice lines\n", FN),
    B("comment", "# Copy the list so the caller's data stays untouched\n", FN),
    B("license", "# See the LICENSE file in the project root for details.\n", ""),
    B("license", "__version__ = '1.2.0'\n", ""),
    B("docstring", '"""Return the user\'s display name."""\n', "def display(user):\n    "),
    B("hex", "COLOR = '#1a2b3c'\n", ""),
    B("uuid", "request_id = str(uuid.uuid4())\n", "import uuid\n\n" + FN),
    B("path", "BASE_DIR = Path(__file__).resolve().parent\n", "from pathlib import Path\n\n"),
    B("path", "return os.path.join(path, name)\n", P),
    B("os", "os.makedirs(path, exist_ok=True)\n", P),
    B("os", "files = os.listdir(path)\n", P),
    B("unicode", "greeting = 'Grüß Gott, café'\n", ""),
    B("unicode", "GREEK = 'αβγ'\n", ""),
    B("copied-like", "def is_palindrome(s):\n    s = ''.join(c.lower() for c in s if c.isalnum())\n"
                     "    return s == s[::-1]\n", ""),
    B("copied-like", "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
                     "    return a\n", ""),
    B("copied-like", "def chunks(xs, n):\n    for i in range(0, len(xs), n):\n        yield xs[i:i + n]\n",
      ""),
    B("copied-like", "def flatten(xss):\n    return [x for xs in xss for x in xs]\n", ""),
    B("url", "API_URL = 'https://api.example.com/v1/items'\n", ""),
    B("url", "resp = requests.get(f'https://api.example.com/users/{user}', timeout=5)\n", P),
    B("hashes", "EXPECTED_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'\n",
      "# checksum of the empty file\n"),
]

CASES = UNSAFE + BENIGN
