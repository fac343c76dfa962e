/** Plain helpers for the inline-completion middleware (no `vscode` import). */

import type { Suggestion } from "./feedback";

export const SERVER_ACCEPT_COMMAND = "codeward.acceptCompletion";
export const CLIENT_ACCEPT_COMMAND = "codeward.didAcceptInline";

export interface ItemIdentity {
  id: string;
  index: number;
  /** The vetting verdict the server attached (only when there are findings). */
  action?: string;
  findings?: { rule_id?: string; message?: string; severity?: string }[];
}

export interface CommandLike {
  command: string;
  title?: string;
  arguments?: unknown[];
}

/** The completion id and candidate index carried by the server's accept command. */
export function itemIdentity(command: CommandLike | undefined): ItemIdentity | undefined {
  if (!command || command.command !== SERVER_ACCEPT_COMMAND) return undefined;
  const data = command.arguments?.[0];
  if (typeof data !== "object" || data === null) return undefined;
  const { id, index, action, findings } = data as Record<string, unknown>;
  if ((typeof id !== "string" && typeof id !== "number") || typeof index !== "number") return undefined;
  const who: ItemIdentity = { id: String(id), index };
  if (typeof action === "string") who.action = action;
  if (Array.isArray(findings)) who.findings = findings.filter((f) => typeof f === "object" && f !== null);
  return who;
}

/**
 * The command the editor runs on Tab: ours, so that the acceptance is reported once through
 * `codeward/didAcceptCompletion` with its length (the server's own command would record a
 * second, lengthless acceptance).
 */
export function clientAcceptCommand(who: ItemIdentity, text: string): CommandLike {
  return {
    command: CLIENT_ACCEPT_COMMAND,
    title: "Accept Codeward suggestion",
    arguments: [{ id: who.id, index: who.index, length: text.length }],
  };
}

export function parseClientAccept(args: unknown[]): { id: string; index: number; length: number } | undefined {
  const data = args[0];
  if (typeof data !== "object" || data === null) return undefined;
  const { id, index, length } = data as Record<string, unknown>;
  if (typeof id !== "string" || typeof index !== "number") return undefined;
  return { id, index, length: typeof length === "number" ? length : 0 };
}

export function suggestionOf(
  who: ItemIdentity,
  uri: string,
  start: { line: number; character: number },
  text: string,
): Suggestion {
  return { id: who.id, index: who.index, uri, line: start.line, character: start.character, text };
}

export interface Cancellable {
  isCancellationRequested: boolean;
  onCancellationRequested(listener: () => void): { dispose(): void };
}

/** Waits `ms`; resolves false at once if the token is cancelled first (a newer keystroke). */
export function debounce(ms: number, token: Cancellable): Promise<boolean> {
  if (token.isCancellationRequested) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((done) => {
    const sub = token.onCancellationRequested(() => {
      clearTimeout(timer);
      sub.dispose();
      done(false);
    });
    const timer = setTimeout(() => {
      sub.dispose();
      done(!token.isCancellationRequested);
    }, ms);
  });
}

/** The server's log format is `<date> <time> LEVEL name: message`: pick the output level. */
export function logLevelOf(line: string): "error" | "warn" | "info" | "debug" | "trace" {
  const m = /^\S+ \S+ (CRITICAL|ERROR|WARNING|INFO|DEBUG)\b/.exec(line);
  switch (m?.[1]) {
    case "CRITICAL":
    case "ERROR":
      return "error";
    case "WARNING":
      return "warn";
    case "DEBUG":
      return "debug";
    case "INFO":
      return "info";
    default:
      return /Traceback|Error\b/.test(line) ? "error" : "info";
  }
}

export interface InlineItemLike {
  insertText: string | { value: string };
  range?: { start: { line: number; character: number } };
  command?: CommandLike;
}

export type InlineResult<T> = T[] | { items: T[] } | null | undefined;

export interface InlineDeps {
  /** codeward.enable */
  enabled(): boolean;
  /** editor.inlineSuggest.enabled for the document */
  inlineSuggestEnabled(): boolean;
  debounceMs(): number;
  /** The first item is what the editor shows. */
  shown(s: Suggestion, who: ItemIdentity): void;
}

/**
 * The inline-completion middleware: nothing when Codeward or VS Code's inline suggestions
 * are off; waits out the debounce (typing cancels the token); asks the server (`next`);
 * swaps each item's command for ours and reports the first item as shown.
 */
export async function provideInline<T extends InlineItemLike>(
  uri: string,
  position: { line: number; character: number },
  automatic: boolean,
  token: Cancellable,
  next: () => PromiseLike<InlineResult<T>> | InlineResult<T>,
  deps: InlineDeps,
): Promise<InlineResult<T>> {
  if (!deps.enabled() || !deps.inlineSuggestEnabled()) return null;
  if (automatic && !(await debounce(deps.debounceMs(), token))) return null;
  const result = await next();
  if (!result || token.isCancellationRequested) return result;
  const items = Array.isArray(result) ? result : result.items;
  let first = true;
  for (const item of items) {
    const who = itemIdentity(item.command);
    if (!who) continue;
    const text = typeof item.insertText === "string" ? item.insertText : item.insertText.value;
    item.command = clientAcceptCommand(who, text);
    if (first) {
      deps.shown(suggestionOf(who, uri, item.range?.start ?? position, text), who);
      first = false;
    }
  }
  return result;
}
