import { strict as assert } from "node:assert";
import { beforeEach, describe, it } from "node:test";

import { FeedbackTracker, positionAfter, type Suggestion, type TextChange } from "../src/feedback";

type Event = [string, Record<string, unknown>];

let events: Event[];
let clock: number;
let tracker: FeedbackTracker;

const URI = "file:///w/a.py";
const sugg = (id: string, text = "return a + b", line = 1, character = 4, index = 0): Suggestion => ({
  id, index, uri: URI, line, character, text,
});
const insert = (line: number, character: number, text: string): TextChange => ({
  startLine: line, startCharacter: character, endLine: line, endCharacter: character, text,
});

beforeEach(() => {
  events = [];
  clock = 1000;
  tracker = new FeedbackTracker(
    {
      didShow: (p) => events.push(["show", p]),
      didAccept: (p) => events.push(["accept", p]),
      didDismiss: (p) => events.push(["dismiss", p]),
    },
    { timeoutMs: 30_000, acceptGraceMs: 1000, now: () => clock },
  );
});

describe("positionAfter", () => {
  it("moves along one line and across lines", () => {
    assert.deepEqual(positionAfter(3, 4, "abc"), [3, 7]);
    assert.deepEqual(positionAfter(3, 4, "ab\n  cd"), [4, 4]);
    assert.deepEqual(positionAfter(3, 4, "x\n"), [4, 0]);
    assert.deepEqual(positionAfter(3, 4, ""), [3, 4]);
  });
});

describe("FeedbackTracker", () => {
  it("reports show once per suggestion", () => {
    tracker.shown(sugg("c1"));
    tracker.shown(sugg("c1"));
    assert.deepEqual(events, [["show", { id: "c1", index: 0 }]]);
    assert.equal(tracker.lastShown?.id, "c1");
  });

  it("Tab: the edit inserts everything, then the command reports a full accept", () => {
    tracker.shown(sugg("c1"));
    tracker.documentChanged(URI, [insert(1, 4, "return a + b")]);
    tracker.selectionChanged(URI, 1, 16);
    assert.equal(events.length, 1, "nothing before the command");
    tracker.accepted("c1", 0, 12);
    assert.deepEqual(events[1], ["accept", { id: "c1", index: 0, acceptedLength: 12, partial: false, shownMs: 0 }]);
    clock += 5000;
    tracker.tick();
    assert.equal(events.length, 2, "no second outcome");
  });

  it("accept command without a preceding edit still counts once", () => {
    tracker.shown(sugg("c1"));
    tracker.accepted("c1", 0, 12);
    tracker.accepted("c1", 0, 12);
    assert.deepEqual(events.map((e) => e[0]), ["show", "accept"]);
  });

  it("a newer suggestion shown during the accept grace does not supersede the accepted one", () => {
    tracker.shown(sugg("c1"));
    tracker.documentChanged(URI, [insert(1, 4, "return a + b")]);
    tracker.shown(sugg("c2", "\n", 1, 16));
    tracker.accepted("c1", 0, 12);
    assert.deepEqual(events.map((e) => [e[0], e[1].id]), [
      ["show", "c1"], ["show", "c2"], ["accept", "c1"],
    ]);
  });

  it("partial accept by next word (multi-character insertion), then dismissed", () => {
    tracker.shown(sugg("c1"));
    tracker.documentChanged(URI, [insert(1, 4, "return ")]);
    tracker.selectionChanged(URI, 1, 11);
    assert.equal(events.length, 1);
    tracker.escape();
    assert.deepEqual(events[1], ["accept", { id: "c1", index: 0, acceptedLength: 7, partial: true, shownMs: 0 }]);
  });

  it("partial accept announced by our keybinding counts even one character", () => {
    tracker.shown(sugg("c1", "a+b", 0, 0));
    tracker.partialAcceptIntent();
    tracker.documentChanged(URI, [insert(0, 0, "a")]);
    tracker.partialAcceptIntent();
    tracker.documentChanged(URI, [insert(0, 1, "+")]);
    tracker.shown(sugg("c2", "x", 0, 2));
    assert.deepEqual(events[1], ["accept", { id: "c1", index: 0, acceptedLength: 2, partial: true, shownMs: 0 }]);
    assert.deepEqual(events[2], ["show", { id: "c2", index: 0 }]);
  });

  it("partial accepts (next line) across lines that end up covering everything", () => {
    const text = "if x:\n        y()";
    tracker.shown(sugg("c1", text, 2, 4));
    tracker.documentChanged(URI, [insert(2, 4, "if x:\n")]);
    tracker.documentChanged(URI, [insert(3, 0, "        y()")]);
    clock += 1500;
    tracker.tick();
    assert.deepEqual(events[1], ["accept", { id: "c1", index: 0, acceptedLength: text.length, partial: true, shownMs: 0 }]);
  });

  it("typing single matching characters is typing through, not accepting", () => {
    tracker.shown(sugg("c1", "ab", 0, 0));
    tracker.documentChanged(URI, [insert(0, 0, "a")]);
    tracker.selectionChanged(URI, 0, 1);
    assert.equal(events.length, 1, "still showing");
    tracker.documentChanged(URI, [insert(0, 1, "b")]);
    assert.deepEqual(events[1], ["dismiss", { id: "c1", index: 0, reason: "typed-over", shownMs: 0 }]);
  });

  it("superseded by a newer suggestion", () => {
    tracker.shown(sugg("c1"));
    tracker.shown(sugg("c2"));
    assert.deepEqual(events[1], ["dismiss", { id: "c1", index: 0, reason: "superseded", shownMs: 0 }]);
    assert.deepEqual(events[2], ["show", { id: "c2", index: 0 }]);
  });

  it("typed over: an edit that does not continue the suggestion", () => {
    tracker.shown(sugg("c1"));
    tracker.documentChanged(URI, [insert(1, 4, "x")]);
    assert.deepEqual(events[1], ["dismiss", { id: "c1", index: 0, reason: "typed-over", shownMs: 0 }]);
  });

  it("typed over: a deletion", () => {
    tracker.shown(sugg("c1"));
    tracker.documentChanged(URI, [{ startLine: 1, startCharacter: 3, endLine: 1, endCharacter: 4, text: "" }]);
    assert.equal(events[1][1].reason, "typed-over");
  });

  it("edits in other documents are ignored", () => {
    tracker.shown(sugg("c1"));
    tracker.documentChanged("file:///w/other.py", [insert(0, 0, "zzz")]);
    assert.equal(events.length, 1);
  });

  it("Escape key", () => {
    tracker.shown(sugg("c1"));
    clock += 1200;
    tracker.escape();
    tracker.escape();
    assert.deepEqual(events.slice(1), [["dismiss", { id: "c1", index: 0, reason: "escape", shownMs: 1200 }]]);
  });

  it("cursor moved away without an edit counts as escape", () => {
    tracker.shown(sugg("c1"));
    tracker.selectionChanged(URI, 1, 4);
    assert.equal(events.length, 1, "cursor still at the suggestion");
    tracker.selectionChanged(URI, 0, 0);
    assert.deepEqual(events[1], ["dismiss", { id: "c1", index: 0, reason: "escape", shownMs: 0 }]);
  });

  it("a selection (not a caret) counts as escape", () => {
    tracker.shown(sugg("c1"));
    tracker.selectionChanged(URI, 1, 4, false);
    assert.equal(events[1][1].reason, "escape");
  });

  it("switching to another editor counts as escape", () => {
    tracker.shown(sugg("c1"));
    tracker.editorChanged(URI);
    assert.equal(events.length, 1);
    tracker.editorChanged("file:///w/b.py");
    assert.equal(events[1][1].reason, "escape");
  });

  it("timeout", () => {
    tracker.shown(sugg("c1"));
    clock += 29_999;
    tracker.tick();
    assert.equal(events.length, 1);
    clock += 1;
    tracker.tick();
    assert.deepEqual(events[1], ["dismiss", { id: "c1", index: 0, reason: "timeout", shownMs: 30000 }]);
    tracker.setTimeout(5000);
    tracker.shown(sugg("c2"));
    clock += 5000;
    tracker.tick();
    assert.equal(events[3][1].reason, "timeout");
  });

  it("a suggestion that already ended is not shown again", () => {
    tracker.shown(sugg("c1"));
    tracker.escape();
    tracker.shown(sugg("c1"));
    assert.deepEqual(events.map((e) => e[0]), ["show", "dismiss"]);
  });

  it("an accept for an untracked item is still reported", () => {
    tracker.accepted("old", 1, 5);
    assert.deepEqual(events, [["accept", { id: "old", index: 1, acceptedLength: 5, partial: false }]]);
  });

  it("dispose ends an open suggestion", () => {
    tracker.shown(sugg("c1"));
    tracker.dispose();
    assert.equal(events[1][1].reason, "timeout");
  });
});
