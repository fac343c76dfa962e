import { strict as assert } from "node:assert";
import { describe, it } from "node:test";

import { escapeHtml, explainHtml, explainRows, explainSummary, referenceUrl, type ExplainResponse } from "../src/explain";

const resp: ExplainResponse = {
  found: true,
  id: "abc",
  model: "tiny 1",
  reason: "",
  candidates: [
    {
      index: 0,
      text: "os.system(cmd)",
      action: "annotate",
      findings: [
        { rule_id: "CW-SEC-B605", severity: "high", confidence: "high", message: "shell <injection>", line: 1, reference: "CWE-78", analyzer: "security" },
      ],
      statuses: { security: "ok", license: "warming" },
    },
  ],
  blocked: [
    {
      index: 1,
      text: "password = 'hunter2'",
      action: "block",
      findings: [{ rule_id: "CW-SECRET-1", severity: "critical", message: "hard-coded password", reference: "https://example.org/r/1" }],
    },
  ],
};

describe("explain", () => {
  it("links references", () => {
    assert.equal(referenceUrl("CWE-78"), "https://cwe.mitre.org/data/definitions/78.html");
    assert.equal(referenceUrl("GPL-3.0-only"), "https://spdx.org/licenses/GPL-3.0-only.html");
    assert.equal(referenceUrl("https://docs.astral.sh/ruff/rules/E501"), "https://docs.astral.sh/ruff/rules/E501");
    assert.equal(referenceUrl("javascript:alert(1)"), undefined);
    assert.equal(referenceUrl(""), undefined);
  });

  it("lists blocked findings first, then shown ones and analyzers that did not finish", () => {
    const rows = explainRows(resp);
    assert.equal(rows.length, 3);
    assert.match(rows[0].label, /^\$\(error\) CW-SECRET-1: hard-coded password/);
    assert.match(rows[0].detail, /blocked suggestion #1/);
    assert.equal(rows[0].url, "https://example.org/r/1");
    assert.match(rows[1].label, /CW-SEC-B605/);
    assert.equal(rows[1].description, "high · high confidence · security");
    assert.equal(rows[1].url, "https://cwe.mitre.org/data/definitions/78.html");
    assert.equal(rows[2].label, "$(info) license: warming");
    assert.deepEqual(explainRows({ found: false }), []);
  });

  it("summarises", () => {
    assert.equal(explainSummary(resp), "Suggestion abc: 1 shown, 1 blocked, 2 findings, model tiny 1.");
    assert.match(explainSummary({ found: false }), /no record/);
  });

  it("renders escaped HTML without scripts", () => {
    const html = explainHtml(resp);
    assert.ok(html.includes("shell &lt;injection&gt;"));
    assert.ok(html.includes('<a href="https://cwe.mitre.org/data/definitions/78.html">CWE-78</a>'));
    assert.ok(html.includes("password = &#39;hunter2&#39;"));
    assert.ok(!/<script/i.test(html));
    assert.match(html, /default-src 'none'/);
    assert.equal(escapeHtml(`<a href="x">&'`), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
  });
});
