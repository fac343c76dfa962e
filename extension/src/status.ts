/** What the status bar item says, from the client state and `codeward/status`. */

export interface ServerStatus {
  version?: string;
  model?: string | null;
  model_version?: string | null;
  model_dir?: string | null;
  model_error?: string;
  loading?: boolean;
  analyzers?: Record<string, string>;
  busy_rejections?: number;
  activity?: Activity | null;
  /** The project index, when the server has one. */
  index?: { enabled?: boolean; ready?: boolean; tokens?: number; error?: string | null } | null;
  metrics_url?: string | null;
}

/** `codeward/status` → `activity`: what the server did since it started. */
export interface Activity {
  last_latency_ms?: Record<string, number> | null;
  recent_p50_ms?: number | null;
  recent_count?: number;
  blocked_today?: number;
  requests?: number;
  shown?: number;
  accepted?: number;
  dismissed?: number;
}

const STAGES = ["prompt", "index", "generation", "vetting"];

function tokens(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${Math.round(n / 1e3)}k` : String(n);
}

/** The short live summary: index state, last latencies, blocked today, feedback counts. */
export function activityLines(server: ServerStatus | undefined): string[] {
  const lines: string[] = [];
  const index = server?.index;
  if (index && index.enabled !== false) {
    const state = index.error ? `error (${index.error})` : index.ready ? "ready" : "building";
    lines.push(`Index: ${state}${index.tokens ? `, ${tokens(index.tokens)} tokens` : ""}`);
  }
  const a = server?.activity;
  if (!a) return lines;
  const last = a.last_latency_ms;
  if (last && last.total !== undefined) {
    const parts = STAGES.filter((s) => last[s] !== undefined).map((s) => `${s} ${Math.round(last[s])}`);
    lines.push(`Last completion: ${Math.round(last.total)} ms${parts.length ? ` (${parts.join(", ")})` : ""}`);
  }
  if (a.recent_p50_ms != null && a.recent_count) {
    lines.push(`Median of the last ${a.recent_count}: ${Math.round(a.recent_p50_ms)} ms`);
  }
  lines.push(`Blocked today: ${a.blocked_today ?? 0}`);
  if (a.requests) {
    lines.push(`Since start: ${a.requests} requests, ${a.shown ?? 0} shown, ${a.accepted ?? 0} accepted, ${a.dismissed ?? 0} dismissed`);
  }
  return lines;
}

export type ClientState = "starting" | "running" | "stopped" | "failed";

export interface LastVerdict {
  action: string;
  findings: { rule_id?: string; message?: string; severity?: string }[];
}

export interface StatusInput {
  client: ClientState;
  /** Findings of the suggestion showing now, if any. */
  last?: LastVerdict;
  enabled: boolean;
  inlineSuggestEnabled: boolean;
  server?: ServerStatus;
  error?: string;
}

export interface StatusView {
  text: string;
  tooltip: string;
  kind: "normal" | "warning" | "error";
}

export interface Vetting {
  state: "ready" | "warming" | "degraded" | "none";
  detail: string;
}

const WARMING = new Set(["warming", "loading", "starting"]);
const READY = new Set(["ready", "ok", "enabled"]);

export function vetting(analyzers: Record<string, string> | undefined): Vetting {
  const entries = Object.entries(analyzers ?? {});
  if (entries.length === 0) return { state: "none", detail: "no analyzers enabled" };
  const detail = entries.map(([name, state]) => `${name}: ${state}`).join(", ");
  const states = entries.map(([, s]) => String(s).toLowerCase());
  if (states.some((s) => !READY.has(s) && !WARMING.has(s) && s !== "disabled")) {
    return { state: "degraded", detail };
  }
  if (states.some((s) => WARMING.has(s))) return { state: "warming", detail };
  return { state: "ready", detail };
}

export function modelLabel(server: ServerStatus | undefined): string {
  if (!server?.model) return "";
  return server.model_version ? `${server.model} ${server.model_version}` : server.model;
}

export function statusView(input: StatusInput): StatusView {
  const server = input.server;
  const lines: string[] = [];
  if (server?.version) lines.push(`Codeward server ${server.version}`);
  const model = modelLabel(server);
  if (model) lines.push(`Model: ${model}${server?.model_dir ? ` (${server.model_dir})` : ""}`);
  const v = vetting(server?.analyzers);
  if (server) lines.push(`Vetting: ${v.state} (${v.detail})`);
  if (server?.busy_rejections) lines.push(`Requests turned away while busy: ${server.busy_rejections}`);
  lines.push(...activityLines(server));
  if (server?.metrics_url) lines.push(`Metrics: ${server.metrics_url}`);
  const last = input.last && input.last.findings.length > 0 ? input.last : undefined;
  if (last) {
    lines.push(`Suggestion showing now (${last.action}):`);
    for (const f of last.findings.slice(0, 5)) lines.push(`  ${f.rule_id ?? "?"}: ${f.message ?? ""}`);
  }
  lines.push("Click for the Codeward menu");

  if (input.client === "failed" || input.client === "stopped") {
    const why = input.error ?? (input.client === "failed" ? "the server could not be started" : "stopped");
    return { text: "$(error) Codeward", tooltip: [`Codeward: ${why}`, ...lines].join("\n"), kind: "error" };
  }
  if (input.client === "starting") {
    return { text: "$(sync~spin) Codeward", tooltip: ["Codeward: starting the server", ...lines].join("\n"), kind: "normal" };
  }
  if (!input.enabled) {
    return { text: "$(circle-slash) Codeward off", tooltip: ["Codeward completions are off", ...lines].join("\n"), kind: "normal" };
  }
  if (!input.inlineSuggestEnabled) {
    return {
      text: "$(circle-slash) Codeward",
      tooltip: ["Inline suggestions are off in VS Code (editor.inlineSuggest.enabled)", ...lines].join("\n"),
      kind: "warning",
    };
  }
  if (server?.model_error) {
    return { text: "$(warning) Codeward: no model", tooltip: [`No model: ${server.model_error}`, ...lines].join("\n"), kind: "error" };
  }
  if (server?.loading) {
    return { text: "$(sync~spin) Codeward: loading model", tooltip: lines.join("\n"), kind: "normal" };
  }
  const vettingMark = v.state === "warming" ? " $(sync~spin) vetting" : v.state === "degraded" ? " $(warning) vetting" : "";
  const findingsMark = last ? ` $(warning) ${last.findings.length}` : "";
  return {
    text: `$(shield) ${model || "Codeward"}${vettingMark}${findingsMark}`,
    tooltip: lines.join("\n"),
    kind: v.state === "degraded" || last ? "warning" : "normal",
  };
}

/** Seconds until the next `codeward/status` poll: fast while something is warming up. */
export function pollInterval(server: ServerStatus | undefined): number {
  if (!server || server.loading || vetting(server.analyzers).state === "warming") return 2;
  return 30;
}
