/**
 * What happened to a shown suggestion, inferred from what the editor lets an extension see.
 *
 * VS Code's stable API reports only a full acceptance (the item's command runs). Everything
 * else is inferred here from document edits, cursor moves, newer suggestions and time:
 *
 * - accepted: the item's command ran (Tab) -> didAccept {partial: false, full length};
 * - partially accepted: an insertion of the suggestion's next characters made by "accept
 *   next word / line" (announced by our keybinding, or at least 2 characters in one edit)
 *   -> didAccept {partial: true, acceptedLength} once the suggestion's life ends;
 * - superseded: a newer suggestion was shown;
 * - typed-over: an edit that does not continue the suggestion (or the user typed it all);
 * - escape: Escape pressed, or the cursor / editor moved away without an edit;
 * - timeout: still showing after `timeoutMs`.
 *
 * Each shown suggestion gets exactly one outcome: one didAccept or one didDismiss.
 * Positions are (line, character) in UTF-16 code units, as VS Code and JS strings count.
 */

export type DismissReason = "escape" | "typed-over" | "superseded" | "timeout";

export interface Suggestion {
  id: string;
  index: number;
  uri: string;
  line: number;
  character: number;
  text: string;
}

export interface FeedbackSink {
  didShow(p: { id: string; index: number }): void;
  didAccept(p: { id: string; index: number; acceptedLength: number; partial: boolean; shownMs?: number }): void;
  didDismiss(p: { id: string; index: number; reason: DismissReason; shownMs: number }): void;
}

/** One entry of TextDocumentChangeEvent.contentChanges. */
export interface TextChange {
  startLine: number;
  startCharacter: number;
  endLine: number;
  endCharacter: number;
  text: string;
}

interface Active {
  s: Suggestion;
  shownAt: number;
  /** Characters of `s.text` now in the document (accepted or typed through). */
  consumed: number;
  /** Of those, characters inserted by partial acceptance. */
  accepted: number;
  /** Fully in the document through edits: waiting briefly for the accept command. */
  completedAt?: number;
}

export interface TrackerOptions {
  timeoutMs: number;
  /** How long a suggestion fully inserted by an edit waits for its accept command. */
  acceptGraceMs?: number;
  now?: () => number;
}

export function positionAfter(line: number, character: number, text: string): [number, number] {
  const parts = text.split("\n");
  if (parts.length === 1) return [line, character + text.length];
  return [line + parts.length - 1, parts[parts.length - 1].length];
}

const key = (id: string, index: number) => `${id}#${index}`;

export class FeedbackTracker {
  private current?: Active;
  /** Fully inserted by an edit, waiting for the item's command (Tab runs it after the edit). */
  private pending?: Active;
  private partialIntent = false;
  private readonly ended = new Map<string, number>();
  /** The most recently shown suggestion, for "explain last suggestion". */
  lastShown?: Suggestion;

  constructor(
    private readonly sink: FeedbackSink,
    private readonly options: TrackerOptions,
  ) {}

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  get active(): Suggestion | undefined {
    return this.current?.s;
  }

  setTimeout(ms: number): void {
    this.options.timeoutMs = ms;
  }

  /** The provider returned `s` as the first item: the editor shows it. */
  shown(s: Suggestion): void {
    const cur = this.current;
    if (cur && cur.s.id === s.id && cur.s.index === s.index) return;
    if (this.ended.has(key(s.id, s.index))) return;
    if (cur) this.end(cur, "superseded");
    this.current = { s, shownAt: this.now(), consumed: 0, accepted: 0 };
    this.lastShown = s;
    this.sink.didShow({ id: s.id, index: s.index });
  }

  /** The item's accept command ran: a full acceptance of `length` characters. */
  accepted(id: string, index: number, length: number): void {
    const k = key(id, index);
    for (const slot of ["pending", "current"] as const) {
      const a = this[slot];
      if (a && a.s.id === id) {
        this[slot] = undefined;
        if (this.ended.has(k)) return;
        this.ended.set(k, this.now());
        const shownMs = (a.completedAt ?? this.now()) - a.shownAt;
        this.sink.didAccept({ id, index, acceptedLength: length, partial: false, shownMs });
        return;
      }
    }
    if (this.ended.has(k)) return;
    // Not tracked (shown before a restart, or from another list position): still an accept.
    this.ended.set(k, this.now());
    this.sink.didAccept({ id, index, acceptedLength: length, partial: false });
  }

  /** Our "accept next word/line" keybinding ran: the next matching insertion is accepted. */
  partialAcceptIntent(): void {
    this.partialIntent = true;
  }

  /** Escape pressed while the suggestion was visible. */
  escape(): void {
    if (this.current) this.finish("escape");
  }

  documentChanged(uri: string, changes: readonly TextChange[]): void {
    const cur = this.current;
    const intent = this.partialIntent;
    this.partialIntent = false;
    if (!cur || cur.s.uri !== uri || changes.length === 0) return;
    const [line, character] = positionAfter(cur.s.line, cur.s.character, cur.s.text.slice(0, cur.consumed));
    const remaining = cur.s.text.slice(cur.consumed);
    const c = changes.length === 1 ? changes[0] : undefined;
    const continues =
      c !== undefined &&
      c.startLine === line && c.startCharacter === character &&
      c.endLine === line && c.endCharacter === character &&
      c.text.length > 0 && remaining.startsWith(c.text);
    if (!continues) {
      this.finish("typed-over");
      return;
    }
    cur.consumed += c.text.length;
    if (intent || c.text.length >= 2) cur.accepted += c.text.length;
    if (cur.consumed >= cur.s.text.length) {
      if (cur.accepted === 0) {
        this.finish("typed-over"); // the user typed the whole suggestion themselves
        return;
      }
      // Tab inserts the text, then runs the item's command: wait for it briefly.
      cur.completedAt = this.now();
      this.current = undefined;
      this.flushPending();
      this.pending = cur;
    }
  }

  /** The cursor of the editor showing `uri` is now at (line, character) with no selection. */
  selectionChanged(uri: string, line: number, character: number, empty = true): void {
    const cur = this.current;
    if (!cur) return;
    if (cur.s.uri !== uri) {
      this.finish("escape");
      return;
    }
    const [l, ch] = positionAfter(cur.s.line, cur.s.character, cur.s.text.slice(0, cur.consumed));
    if (!empty || l !== line || ch !== character) this.finish("escape");
  }

  /** The active editor changed to another document (or none). */
  editorChanged(uri: string | undefined): void {
    if (this.current && this.current.s.uri !== uri) this.finish("escape");
  }

  /** Called periodically: ends timed-out suggestions and unconfirmed full insertions. */
  tick(): void {
    const now = this.now();
    const p = this.pending;
    if (p && p.completedAt !== undefined && now - p.completedAt >= (this.options.acceptGraceMs ?? 1000)) {
      this.flushPending();
    }
    const cur = this.current;
    if (cur && now - cur.shownAt >= this.options.timeoutMs) this.finish("timeout");
    for (const [k, at] of this.ended) if (now - at > 60_000) this.ended.delete(k);
  }

  /** Ends everything (extension deactivating): open suggestions time out. */
  dispose(): void {
    this.flushPending();
    if (this.current) this.finish("timeout");
  }

  private flushPending(): void {
    const p = this.pending;
    this.pending = undefined;
    if (p) this.end(p, "typed-over");
  }

  private finish(reason: DismissReason): void {
    const cur = this.current;
    this.current = undefined;
    if (cur) this.end(cur, reason);
  }

  private end(a: Active, reason: DismissReason): void {
    const k = key(a.s.id, a.s.index);
    if (this.ended.has(k)) return;
    const now = this.now();
    this.ended.set(k, now);
    const shownMs = (a.completedAt ?? now) - a.shownAt;
    if (a.accepted > 0) {
      this.sink.didAccept({ id: a.s.id, index: a.s.index, acceptedLength: a.accepted, partial: true, shownMs });
    } else {
      this.sink.didDismiss({ id: a.s.id, index: a.s.index, reason, shownMs });
    }
  }
}
