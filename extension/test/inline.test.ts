import { strict as assert } from "node:assert";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";

import {
  CLIENT_ACCEPT_COMMAND,
  clientAcceptCommand,
  debounce,
  itemIdentity,
  logLevelOf,
  parseClientAccept,
  provideInline,
  suggestionOf,
  type InlineDeps,
} from "../src/inline";
import type { Suggestion } from "../src/feedback";

function token() {
  const em = new EventEmitter();
  const t = {
    isCancellationRequested: false,
    onCancellationRequested(listener: () => void) {
      em.on("cancel", listener);
      return { dispose: () => em.off("cancel", listener) };
    },
    cancel() {
      t.isCancellationRequested = true;
      em.emit("cancel");
    },
  };
  return t;
}

describe("inline helpers", () => {
  it("reads the server's accept command", () => {
    const cmd = { command: "codeward.acceptCompletion", arguments: [{ id: "c1", index: 0, findings: [] }] };
    assert.deepEqual(itemIdentity(cmd), { id: "c1", index: 0, findings: [] });
    assert.equal(itemIdentity({ command: "other", arguments: [{ id: "c1", index: 0 }] }), undefined);
    assert.equal(itemIdentity({ command: "codeward.acceptCompletion", arguments: ["x"] }), undefined);
    assert.equal(itemIdentity(undefined), undefined);
  });

  it("carries the verdict the server attached", () => {
    const f = { rule_id: "CW-SEC-1", message: "shell", severity: "high" };
    const cmd = { command: "codeward.acceptCompletion", arguments: [{ id: "c1", index: 0, action: "annotate", findings: [f, "junk"] }] };
    assert.deepEqual(itemIdentity(cmd), { id: "c1", index: 0, action: "annotate", findings: [f] });
  });

  it("replaces it by the client's accept command carrying the length", () => {
    const cmd = clientAcceptCommand({ id: "c1", index: 2 }, "return a + b");
    assert.equal(cmd.command, CLIENT_ACCEPT_COMMAND);
    assert.deepEqual(parseClientAccept(cmd.arguments!), { id: "c1", index: 2, length: 12 });
    assert.equal(parseClientAccept([null]), undefined);
    assert.deepEqual(suggestionOf({ id: "c1", index: 0 }, "u", { line: 1, character: 4 }, "x"), {
      id: "c1", index: 0, uri: "u", line: 1, character: 4, text: "x",
    });
  });

  it("debounce waits, and gives up when cancelled", async () => {
    const t1 = token();
    const start = Date.now();
    assert.equal(await debounce(30, t1), true);
    assert.ok(Date.now() - start >= 25);
    const t2 = token();
    const p = debounce(10_000, t2);
    t2.cancel();
    assert.equal(await p, false);
    const t3 = token();
    t3.cancel();
    assert.equal(await debounce(10, t3), false);
    assert.equal(await debounce(0, token()), true);
  });

  it("maps the server's log levels", () => {
    assert.equal(logLevelOf("2026-01-01 10:00:00,123 WARNING codeward.server: x"), "warn");
    assert.equal(logLevelOf("2026-01-01 10:00:00,123 ERROR codeward: x"), "error");
    assert.equal(logLevelOf("2026-01-01 10:00:00,123 DEBUG pygls: x"), "debug");
    assert.equal(logLevelOf("2026-01-01 10:00:00,123 INFO codeward: x"), "info");
    assert.equal(logLevelOf("Traceback (most recent call last):"), "error");
    assert.equal(logLevelOf("plain"), "info");
  });
});

describe("provideInline (the middleware)", () => {
  const serverItems = () => ({
    items: [
      { insertText: "return a + b", command: { command: "codeward.acceptCompletion", title: "Accept", arguments: [{ id: "c1", index: 0 }] } },
      { insertText: { value: "pass" }, command: { command: "codeward.acceptCompletion", title: "Accept", arguments: [{ id: "c1", index: 1 }] } },
    ],
  });
  const setup = (over: Partial<InlineDeps> = {}) => {
    const shown: Suggestion[] = [];
    let asked = 0;
    const deps: InlineDeps = {
      enabled: () => true,
      inlineSuggestEnabled: () => true,
      debounceMs: () => 0,
      shown: (s) => shown.push(s),
      ...over,
    };
    const next = async () => {
      asked++;
      return serverItems();
    };
    return { shown, deps, next, asked: () => asked };
  };
  const pos = { line: 1, character: 4 };

  it("swaps the commands and reports the first item as shown", async () => {
    const t = setup();
    const result = (await provideInline("u", pos, true, token(), t.next, t.deps)) as ReturnType<typeof serverItems>;
    assert.equal(t.asked(), 1);
    assert.deepEqual(result.items.map((i) => i.command.command), [CLIENT_ACCEPT_COMMAND, CLIENT_ACCEPT_COMMAND]);
    assert.deepEqual(parseClientAccept(result.items[1].command.arguments!), { id: "c1", index: 1, length: 4 });
    assert.deepEqual(t.shown, [{ id: "c1", index: 0, uri: "u", line: 1, character: 4, text: "return a + b" }]);
  });

  it("asks nothing when Codeward or VS Code's inline suggestions are off", async () => {
    for (const over of [{ enabled: () => false }, { inlineSuggestEnabled: () => false }]) {
      const t = setup(over);
      assert.equal(await provideInline("u", pos, false, token(), t.next, t.deps), null);
      assert.equal(t.asked(), 0);
    }
  });

  it("a keystroke during the debounce cancels the request before it is sent", async () => {
    const t = setup({ debounceMs: () => 5_000 });
    const tok = token();
    const p = provideInline("u", pos, true, tok, t.next, t.deps);
    tok.cancel();
    assert.equal(await p, null);
    assert.equal(t.asked(), 0);
  });

  it("an explicit trigger skips the debounce; a cancelled answer is not reported as shown", async () => {
    const t = setup({ debounceMs: () => 5_000 });
    const tok = token();
    const next = async () => {
      tok.cancel();
      return serverItems();
    };
    await provideInline("u", pos, false, tok, next, t.deps);
    assert.deepEqual(t.shown, []);
  });

  it("leaves other providers' items alone", async () => {
    const t = setup();
    const items = [{ insertText: "x", command: { command: "other.cmd", arguments: [] } }];
    const result = await provideInline("u", pos, false, token(), async () => items, t.deps);
    assert.equal((result as typeof items)[0].command.command, "other.cmd");
    assert.deepEqual(t.shown, []);
  });
});
