// Wiring test: the extension's plain modules against the real Python server over stdio.
// Starts `python -m codeward.server.cli serve` exactly as the extension does (serverLaunch +
// startServer + initializationOptions), asks for an inline completion, feeds the answer
// through itemIdentity and the FeedbackTracker, and checks that the server's event store
// recorded show, accept and dismiss, and that status/explain answers fit the status bar and
// explain view. Skipped (with the reason) when no venv or tiny test model is present; set
// CODEWARD_PYTHON and CODEWARD_TEST_MODEL to point at them.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  createProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type ProtocolConnection,
} from "vscode-languageserver-protocol/node";

import { DEFAULTS, initializationOptions, serverLaunch, type CodewardConfig } from "../src/config";
import { explainRows, type ExplainResponse } from "../src/explain";
import { FeedbackTracker } from "../src/feedback";
import { itemIdentity, suggestionOf } from "../src/inline";
import { startServer } from "../src/launch";
import { statusView, vetting, type ServerStatus } from "../src/status";

const ROOT = resolve(__dirname, "..", "..", "..");
const PYTHON = process.env.CODEWARD_PYTHON ?? join(ROOT, ".venv", "bin", "python");

function findModel(): string | undefined {
  if (process.env.CODEWARD_TEST_MODEL) return process.env.CODEWARD_TEST_MODEL;
  const cache = join(ROOT, "tests", ".cache");
  if (!existsSync(cache)) return undefined;
  for (const d of readdirSync(cache).filter((n) => n.startsWith("tiny-taught-"))) {
    const ct2 = join(cache, d, "ct2");
    if (existsSync(join(ct2, "codeward.json"))) return ct2;
  }
  return undefined;
}

const MODEL = findModel();
const skip = !existsSync(PYTHON)
  ? `no Python at ${PYTHON} (set CODEWARD_PYTHON)`
  : !MODEL
    ? "no tiny test model in tests/.cache (run the Python tests once, or set CODEWARD_TEST_MODEL)"
    : false;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("extension modules against the real server", { skip }, () => {
  let conn: ProtocolConnection;
  let dir: string;
  let store: string;
  let config: CodewardConfig;
  let exited: Promise<unknown>;
  const URI = "file:///work/demo.py";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "codeward-wiring-"));
    store = join(dir, "events.db");
    config = {
      ...structuredClone(DEFAULTS),
      pythonPath: PYTHON,
      modelPath: MODEL!,
      serverEnv: { XDG_DATA_HOME: join(dir, "data"), HF_HUB_OFFLINE: "1" },
      // a generous vetting budget, as in the Python server tests: on a loaded machine a
      // timeout withholds the suggestion (fail-closed), which is not what this tests
      serverSettings: { events: { store: { url: `sqlite:///${store}` } }, vetting: { budget_ms: 2000 } },
    };
    const child = await startServer(serverLaunch(config), { cwd: dir });
    exited = new Promise((ok) => child.once("exit", ok));
    conn = createProtocolConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    conn.listen();
    await conn.sendRequest("initialize", {
      processId: process.pid,
      rootUri: null,
      capabilities: {},
      initializationOptions: initializationOptions(config),
    });
    await conn.sendNotification("initialized", {});
  });

  after(async () => {
    if (conn) {
      await conn.sendRequest("shutdown").catch(() => undefined);
      await conn.sendNotification("exit").catch(() => undefined);
      await Promise.race([exited, sleep(10_000)]);
      conn.dispose();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("status fits the status bar once the model and the analyzers are ready", async () => {
    let status: ServerStatus = {};
    for (let i = 0; i < 240; i++) {
      status = await conn.sendRequest<ServerStatus>("codeward/status", {});
      if (status.model && !status.loading && vetting(status.analyzers).state === "ready") break;
      await sleep(500);
    }
    assert.equal(status.model, "tiny-taught");
    const view = statusView({ client: "running", enabled: true, inlineSuggestEnabled: true, server: status });
    assert.match(view.text, /^\$\(shield\) tiny-taught 1$/);
  });

  it("inline completion -> show, accept and dismiss reach the event store", async () => {
    const text = "def add(a, b):\n    ";
    await conn.sendNotification("textDocument/didOpen", {
      textDocument: { uri: URI, languageId: "python", version: 1, text },
    });
    const sent: [string, object][] = [];
    const tracker = new FeedbackTracker(
      {
        didShow: (p) => sent.push(["codeward/didShowCompletion", p]),
        didAccept: (p) => sent.push(["codeward/didAcceptCompletion", p]),
        didDismiss: (p) => sent.push(["codeward/didDismissCompletion", p]),
      },
      { timeoutMs: 30_000 },
    );
    const ask = async () => {
      const list = await conn.sendRequest<{ items: { insertText: string; command?: { command: string; arguments?: unknown[] } }[] }>(
        "textDocument/inlineCompletion",
        { textDocument: { uri: URI }, position: { line: 1, character: 4 }, context: { triggerKind: 2 } },
      );
      assert.ok(list.items.length > 0, "the taught model completes add()");
      const who = itemIdentity(list.items[0].command);
      assert.ok(who, "the item carries codeward.acceptCompletion with {id, index}");
      return { who, text: list.items[0].insertText };
    };
    const first = await ask();
    assert.equal(first.text, "return a + b");
    tracker.shown(suggestionOf(first.who, URI, { line: 1, character: 4 }, first.text));
    tracker.escape();
    const second = await ask();
    tracker.shown(suggestionOf(second.who, URI, { line: 1, character: 4 }, second.text));
    tracker.documentChanged(URI, [{ startLine: 1, startCharacter: 4, endLine: 1, endCharacter: 4, text: second.text }]);
    tracker.accepted(second.who.id, second.who.index, second.text.length);
    assert.deepEqual(
      sent.map(([m]) => m.split("/")[1]),
      ["didShowCompletion", "didDismissCompletion", "didShowCompletion", "didAcceptCompletion"],
    );
    for (const [method, params] of sent) await conn.sendNotification(method, params);

    const explain = await conn.sendRequest<ExplainResponse>("codeward/explain", { id: second.who.id });
    assert.equal(explain.found, true);
    assert.equal(explain.candidates?.[0].text, "return a + b");
    assert.deepEqual(explainRows(explain), [], "a clean suggestion has no findings");

    // Shut down so that the store is flushed, then read it back through the CLI.
    await conn.sendRequest("shutdown");
    await conn.sendNotification("exit");
    await Promise.race([exited, sleep(10_000)]);
    conn.dispose();
    conn = undefined as unknown as ProtocolConnection;
    const out = spawnSync(PYTHON, ["-m", "codeward.server.cli", "events", "export", "--store", `sqlite:///${store}`], {
      encoding: "utf8",
      env: { ...process.env, XDG_DATA_HOME: join(dir, "data") },
    });
    assert.equal(out.status, 0, out.stderr);
    const rows = out.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const of = (id: string) => rows.filter((r) => r.completion_id === id).map((r) => r.type);
    // The second suggestion, accepted where the first was dismissed, is what was written
    // instead of the first: the same text as its candidate 0 (the dataset drops such rows).
    assert.deepEqual(of(first.who.id).filter((t) => t !== "completion"), ["show", "dismiss", "written"]);
    const written = rows.find((r) => r.completion_id === first.who.id && r.type === "written");
    assert.equal(written.text, "return a + b");
    assert.equal(written.same_as_candidate, 0);
    assert.equal(rows.find((r) => r.completion_id === first.who.id && r.type === "dismiss").reason, "escape");
    const acc = rows.find((r) => r.completion_id === second.who.id && r.type === "accept");
    assert.ok(acc, `accept recorded: ${JSON.stringify(of(second.who.id))}`);
    assert.equal(acc.accepted_length, 12);
    assert.equal(acc.partial, false);
  });
});
