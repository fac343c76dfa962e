/** Turning a `codeward/explain` answer into quick-pick rows and a safe HTML page. */

export interface ExplainFinding {
  rule_id?: string;
  severity?: string;
  confidence?: string;
  message?: string;
  line?: number;
  reference?: string;
  analyzer?: string;
  action?: string;
}

export interface ExplainCandidate {
  index: number;
  text: string;
  action?: string;
  findings?: ExplainFinding[];
  statuses?: Record<string, string>;
}

export interface ExplainResponse {
  found: boolean;
  id?: string | null;
  model?: string;
  reason?: string;
  candidates?: ExplainCandidate[];
  blocked?: ExplainCandidate[];
}

/** An http(s) URL for a finding's reference: itself, a CWE id, or an SPDX license id. */
export function referenceUrl(reference: string | undefined): string | undefined {
  const ref = (reference ?? "").trim();
  if (!ref) return undefined;
  if (/^https?:\/\/[^\s"'<>]+$/i.test(ref)) return ref;
  const cwe = /^CWE-(\d+)$/i.exec(ref);
  if (cwe) return `https://cwe.mitre.org/data/definitions/${cwe[1]}.html`;
  if (/^[A-Za-z0-9][A-Za-z0-9.+-]*$/.test(ref)) return `https://spdx.org/licenses/${ref}.html`;
  return undefined;
}

export interface ExplainRow {
  label: string;
  description: string;
  detail: string;
  url?: string;
}

const ICON: Record<string, string> = {
  block: "$(error)",
  fix: "$(wrench)",
  annotate: "$(warning)",
  allow: "$(pass)",
};

function firstLine(text: string): string {
  const line = text.split("\n").find((l) => l.trim()) ?? "";
  return line.trim().slice(0, 60);
}

/** Quick-pick rows: one per finding (blocked candidates first), or one saying all is clean. */
export function explainRows(resp: ExplainResponse): ExplainRow[] {
  if (!resp.found) return [];
  const rows: ExplainRow[] = [];
  const groups: [string, ExplainCandidate[]][] = [
    ["blocked", resp.blocked ?? []],
    ["shown", resp.candidates ?? []],
  ];
  for (const [where, cands] of groups) {
    for (const c of cands) {
      for (const f of c.findings ?? []) {
        const action = f.action ?? c.action ?? "annotate";
        rows.push({
          label: `${ICON[where === "blocked" ? "block" : action] ?? ""} ${f.rule_id ?? "?"}: ${f.message ?? ""}`.trim(),
          description: [f.severity, f.confidence && `${f.confidence} confidence`, f.analyzer].filter(Boolean).join(" · "),
          detail: `${where} suggestion #${c.index}, line ${f.line ?? 1}: ${firstLine(c.text)}`,
          url: referenceUrl(f.reference),
        });
      }
      const notOk = Object.entries(c.statuses ?? {}).filter(([, s]) => s !== "ok" && s !== "skipped");
      for (const [analyzer, status] of notOk) {
        rows.push({
          label: `$(info) ${analyzer}: ${status}`,
          description: "analyzer did not fully check this suggestion",
          detail: `${where} suggestion #${c.index}: ${firstLine(c.text)}`,
        });
      }
    }
  }
  return rows;
}

/** One-line summary for a notification when there is nothing to list. */
export function explainSummary(resp: ExplainResponse): string {
  if (!resp.found) return "Codeward has no record of a recent suggestion (it keeps the last few).";
  const shown = resp.candidates?.length ?? 0;
  const blocked = resp.blocked?.length ?? 0;
  const findings = [...(resp.candidates ?? []), ...(resp.blocked ?? [])].reduce(
    (n, c) => n + (c.findings?.length ?? 0),
    0,
  );
  const parts = [`${shown} shown`, `${blocked} blocked`, `${findings} finding${findings === 1 ? "" : "s"}`];
  const why = resp.reason ? ` (${resp.reason})` : "";
  return `Suggestion ${resp.id ?? ""}: ${parts.join(", ")}${why}${resp.model ? `, model ${resp.model}` : ""}.`;
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

function candidateHtml(c: ExplainCandidate, where: string): string {
  const findings = (c.findings ?? [])
    .map((f) => {
      const url = referenceUrl(f.reference);
      const ref = url
        ? `<a href="${escapeHtml(url)}">${escapeHtml(f.reference ?? url)}</a>`
        : escapeHtml(f.reference ?? "");
      return (
        `<tr><td><code>${escapeHtml(f.rule_id ?? "?")}</code></td>` +
        `<td>${escapeHtml(f.severity ?? "")}</td><td>${escapeHtml(f.confidence ?? "")}</td>` +
        `<td>${escapeHtml(String(f.line ?? ""))}</td><td>${escapeHtml(f.message ?? "")}</td>` +
        `<td>${escapeHtml(f.analyzer ?? "")}</td><td>${ref}</td></tr>`
      );
    })
    .join("\n");
  const statuses = Object.entries(c.statuses ?? {})
    .map(([a, s]) => `<span class="st st-${escapeHtml(s)}">${escapeHtml(a)}: ${escapeHtml(s)}</span>`)
    .join(" ");
  return (
    `<section class="${escapeHtml(where)}"><h2>${escapeHtml(where)} suggestion #${c.index} ` +
    `— ${escapeHtml(c.action ?? "allow")}</h2>\n<pre>${escapeHtml(c.text)}</pre>\n` +
    (statuses ? `<p>Analyzers: ${statuses}</p>\n` : "") +
    (findings
      ? `<table><tr><th>Rule</th><th>Severity</th><th>Confidence</th><th>Line</th><th>Message</th>` +
        `<th>Analyzer</th><th>Reference</th></tr>\n${findings}</table>`
      : "<p>No findings.</p>") +
    `</section>`
  );
}

/** A self-contained page (no scripts; the CSP allows only inline styles). */
export function explainHtml(resp: ExplainResponse): string {
  const body = resp.found
    ? [
        `<p>${escapeHtml(explainSummary(resp))}</p>`,
        ...(resp.blocked ?? []).map((c) => candidateHtml(c, "blocked")),
        ...(resp.candidates ?? []).map((c) => candidateHtml(c, "shown")),
      ].join("\n")
    : `<p>${escapeHtml(explainSummary(resp))}</p>`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline';">
<title>Codeward: why</title>
<style>
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); }
pre { background: var(--vscode-textCodeBlock-background); padding: .5em; }
table { border-collapse: collapse; } td, th { border: 1px solid var(--vscode-panel-border); padding: .2em .5em; text-align: left; }
section.blocked h2 { color: var(--vscode-errorForeground); }
.st { margin-right: .8em; }
</style></head>
<body><h1>Why was this suggestion blocked or annotated?</h1>
${body}
</body></html>`;
}
