"""One source of credential formats: every pattern blocks a suggestion AND is redacted from
an event. A sample of each kind goes through the secrets analyzer and the event redactor."""

from __future__ import annotations

import pytest

from codeward.analyzers import secrets
from codeward.analyzers.contract import VetContext
from codeward.analyzers.secret_patterns import CREDENTIALS, secret_part
from codeward.analyzers.secrets import SecretsAnalyzer, SecretsOptions
from codeward.server.events import redact
from codeward.server.events.redact import Redactor

# one sample per kind, as a model might write it (the secret part must not survive)
SAMPLES = {
    "private-key": "KEY = '''-----BEGIN RSA PRIVATE KEY-----",
    "url-credentials": "DB = 'postgresql://app:Xk29vLq7pQ@db.internal:5432/app'",
    "aws-access-key": "AWS_ID = 'AKIAQ3EGRT5WXYZ7ABCD'",
    "github-token": "GH = 'ghp_Zq8vR2mN4kL6jH1gF3dS5aP7oI9uY0tR2eWq'",
    "gitlab-token": "GL = 'glpat-x8Kd2Lm4Np6Qr8St0Uv2'",
    "slack-token": "SLACK = 'xoxb-2648213452-Kq8vL2mN4pR6'",
    "slack-webhook": "HOOK = 'https://hooks.slack.com/services/T0001/B0002/Xq8vL2mN4pR6sT8u'",
    "stripe-key": "STRIPE = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'",
    "google-api-key": "GOOGLE = 'AIzaSyD4x9Kq2Lm8Np6Qr0St2Uv4Wx6Yz8AbCdE'",
    "openai-key": "OPENAI = 'sk-proj-Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr'",
    "anthropic-key": "ANTHROPIC = 'sk-ant-api03-Xq8vL2mN4pR6sT8uV0wY2z'",
    "huggingface-token": "HF = 'hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789'",
    "jwt": "TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N'",
    "npm-token": "NPM = 'npm_Xq8vL2mN4pR6sT8uV0wY2zA4bC6dE8fG0hI2'",
    "pypi-token": "PYPI = 'pypi-AgEIcHlwaS5vcmcCJDU4ZjM0ZDRlLTk0YmEtNGM3Zi05ZWRhLWU3YTM2'",
    "sendgrid-key": "SG_KEY = 'SG.Xq8vL2mN4pR6sT8uV0w.Y2zA4bC6dE8fG0hI2jK4'",
    "twilio-key": "TWILIO = 'SK0123456789abcdef0123456789abcdef'",
    "bearer-token": "headers = {'Authorization': 'Bearer Xq8vL2mN4pR6sT8uV0wY2zA4'}",
}


def test_every_pattern_has_a_sample_and_both_sides_use_the_shared_table() -> None:
    assert set(SAMPLES) == set(CREDENTIALS)
    assert secrets.CREDENTIALS is CREDENTIALS
    shared = [item for item in redact.PATTERNS if item[0] in CREDENTIALS]
    assert shared == list(CREDENTIALS.items())


@pytest.fixture(scope="module")
def analyzer() -> SecretsAnalyzer:
    a = SecretsAnalyzer()
    a.warm_up()
    return a


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_sample_is_blocked_as_a_suggestion_and_redacted_from_an_event(
        kind: str, analyzer: SecretsAnalyzer) -> None:
    sample = SAMPLES[kind]
    match = CREDENTIALS[kind].search(sample)
    assert match is not None, f"the {kind} pattern does not match its own sample"
    secret = secret_part(match)
    verdict = analyzer.analyze(VetContext("", sample + "\n", ""), SecretsOptions(entropy=False))
    assert verdict.action == "block", (kind, [f.rule_id for f in verdict.findings])
    redacted, counts = Redactor().redact(f"x = 1\n{sample}\n")
    assert secret not in redacted and "<redacted:" in redacted, (kind, redacted)
    assert sum(counts.values()) >= 1


def test_placeholder_password_in_a_url_is_not_a_secret(analyzer: SecretsAnalyzer) -> None:
    verdict = analyzer.analyze(VetContext("", "DB = 'postgresql://app:${PASSWORD}@db/app'\n",
                                          ""), SecretsOptions(entropy=False))
    assert verdict.action == "allow", [f.rule_id for f in verdict.findings]
