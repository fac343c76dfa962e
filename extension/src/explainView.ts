/** The explain view: a quick pick of findings (opening their references) and a details page. */

import * as vscode from "vscode";

import { explainHtml, explainRows, explainSummary, type ExplainResponse } from "./explain";

export async function showExplanation(resp: ExplainResponse): Promise<void> {
  const rows = explainRows(resp);
  if (rows.length === 0) {
    const pick = await vscode.window.showInformationMessage(explainSummary(resp), ...(resp.found ? ["Details"] : []));
    if (pick) showExplainPanel(resp);
    return;
  }
  type Row = vscode.QuickPickItem & { url?: string; details?: boolean };
  const items: Row[] = [
    { label: "$(book) Open details", description: explainSummary(resp), details: true },
    ...rows.map((r) => ({ label: r.label, description: r.description, detail: r.detail, url: r.url })),
  ];
  const pick = await vscode.window.showQuickPick(items, {
    title: "Codeward: why was this suggestion blocked or annotated?",
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (pick?.details) showExplainPanel(resp);
  else if (pick?.url) await vscode.env.openExternal(vscode.Uri.parse(pick.url));
}

function showExplainPanel(resp: ExplainResponse): void {
  const panel = vscode.window.createWebviewPanel("codeward.explain", "Codeward: why", vscode.ViewColumn.Beside, {
    enableScripts: false,
  });
  panel.webview.html = explainHtml(resp);
}
