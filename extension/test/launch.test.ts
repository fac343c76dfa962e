import { strict as assert } from "node:assert";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";

import type { Launch } from "../src/config";
import { exitedMessage, notStartedMessage, resolveCommand, startServer, StartError, Tail } from "../src/launch";

const dir = mkdtempSync(join(tmpdir(), "codeward-launch-"));
const script = join(dir, "fake-server");
writeFileSync(script, "#!/bin/sh\necho started >&2\ncat\n");
chmodSync(script, 0o755);
const notExec = join(dir, "plain-file");
writeFileSync(notExec, "");
after(() => rmSync(dir, { recursive: true, force: true }));

const launch = (over: Partial<Launch>): Launch => ({ command: "codeward", args: ["serve"], env: {}, source: "PATH", ...over });

describe("resolveCommand", () => {
  it("finds a program on PATH and absolute paths", () => {
    assert.equal(resolveCommand("fake-server", `/nonexistent:${dir}`, "/"), script);
    assert.equal(resolveCommand(script, "", "/"), script);
    assert.equal(resolveCommand("./fake-server", "", dir), script);
    assert.equal(resolveCommand("no-such-program-xyz", dir, "/"), undefined);
    assert.equal(resolveCommand(notExec, "", "/"), undefined);
  });
});

describe("startServer", () => {
  it("starts a real process and forwards its stderr", async () => {
    const seen: string[] = [];
    const child = await startServer(launch({ command: script, args: [] }), {
      cwd: dir,
      onStderr: (c) => seen.push(c),
    });
    const echoed = new Promise<string>((ok) => child.stdout!.once("data", (d) => ok(String(d))));
    child.stdin!.write("ping\n");
    assert.equal(await echoed, "ping\n");
    child.stdin!.end();
    await new Promise((ok) => child.once("exit", ok));
    assert.match(seen.join(""), /started/);
  });

  it("rejects with the fix when the program is missing", async () => {
    await assert.rejects(startServer(launch({ command: "no-such-codeward-xyz" }), { cwd: dir }), (err: unknown) => {
      assert.ok(err instanceof StartError);
      assert.equal(err.problem, "not-found");
      assert.match(err.message, /`no-such-codeward-xyz` was not found/);
      assert.match(err.message, /python3 -m venv \.venv && \.venv\/bin\/pip install -e \./);
      assert.match(err.message, /codeward\.server\.pythonPath` to `\/path\/to\/codeward\/\.venv\/bin\/python`/);
      return true;
    });
  });

  it("says when the path is not executable", async () => {
    await assert.rejects(
      startServer(launch({ command: notExec, source: "codeward.server.command" }), { cwd: dir }),
      (err: unknown) => err instanceof StartError && err.problem === "not-executable" && /codeward\.server\.command/.test(err.message),
    );
  });
});

describe("messages", () => {
  it("gives the install that works from a checkout, never pip into a system Python", () => {
    const l = launch({ command: "/usr/bin/python3", args: ["-m", "codeward.server.cli", "serve"], source: "codeward.server.pythonPath" });
    for (const msg of [
      notStartedMessage(l, "not-found"),
      exitedMessage(l, 1, "Traceback...\nModuleNotFoundError: No module named 'codeward'\n"),
    ]) {
      assert.doesNotMatch(msg, /python3 -m pip install codeward/);
      assert.match(msg, /\.venv\/bin\/pip install -e \./);
      assert.match(msg, /`codeward\.server\.pythonPath` to `\/path\/to\/codeward\/\.venv\/bin\/python`/);
    }
    assert.match(exitedMessage(l, 1, "No module named 'codeward'"), /has no `codeward` module/);
  });

  it("shows the last log line of a crash", () => {
    const msg = exitedMessage(launch({}), 2, "INFO starting\nERROR boom: bad model\n");
    assert.match(msg, /exited \(code 2\): ERROR boom: bad model/);
  });

  it("Tail keeps the end", () => {
    const t = new Tail(5);
    t.push("abc");
    t.push("defg");
    assert.equal(t.toString(), "cdefg");
  });
});
