import { strict as assert } from "node:assert";
import { describe, it } from "node:test";

import {
  DEFAULTS,
  documentSelector,
  initializationOptions,
  needsRestart,
  readConfig,
  serverLaunch,
  settingsChanged,
  type CodewardConfig,
} from "../src/config";

const source = (values: Record<string, unknown>) => ({ get: (key: string) => values[key] });

describe("readConfig", () => {
  it("gives the defaults for an empty configuration", () => {
    const { config, problems } = readConfig(source({}));
    assert.deepEqual(config, DEFAULTS);
    assert.deepEqual(problems, []);
  });

  it("reads every setting", () => {
    const { config, problems } = readConfig(
      source({
        enable: false,
        "server.command": ["/opt/cw/bin/codeward", "serve"],
        "server.pythonPath": " /usr/bin/python3 ",
        "server.modelPath": "/models/m",
        "server.env": { HF_HUB_OFFLINE: "1" },
        "server.settings": { engine: { max_new_tokens: 16 } },
        languages: ["python", "typescript"],
        debounceMs: 0,
        dismissTimeoutSeconds: 60,
        logLevel: "DEBUG",
      }),
    );
    assert.deepEqual(problems, []);
    assert.equal(config.enable, false);
    assert.deepEqual(config.serverCommand, ["/opt/cw/bin/codeward", "serve"]);
    assert.equal(config.pythonPath, "/usr/bin/python3");
    assert.deepEqual(config.serverEnv, { HF_HUB_OFFLINE: "1" });
    assert.deepEqual(config.languages, ["python", "typescript"]);
    assert.equal(config.debounceMs, 0);
    assert.equal(config.logLevel, "debug");
  });

  it("keeps the default for each bad value and names the setting", () => {
    const { config, problems } = readConfig(
      source({
        enable: "yes",
        "server.command": "codeward serve",
        debounceMs: -5,
        dismissTimeoutSeconds: 1.5,
        logLevel: "loud",
        "server.env": { A: 1 },
        "server.settings": [],
        languages: [],
      }),
    );
    assert.deepEqual(config, DEFAULTS);
    const keys = problems.map((p) => p.split(":")[0]);
    assert.deepEqual(keys.sort(), [
      "codeward.debounceMs",
      "codeward.dismissTimeoutSeconds",
      "codeward.enable",
      "codeward.languages",
      "codeward.logLevel",
      "codeward.server.command",
      "codeward.server.env",
      "codeward.server.settings",
    ]);
    assert.match(problems.find((p) => p.startsWith("codeward.debounceMs"))!, /integer from 0 to 2000.*using 75/);
  });

  it("copies VS Code's read-only proxies into plain objects", () => {
    const frozen = (o: object) => new Proxy(Object.freeze(o), {});
    const { config } = readConfig(
      source({ "server.settings": frozen({ engine: frozen({ seed: 1 }) }), "server.env": frozen({ A: "1" }) }),
    );
    const init = initializationOptions(config);
    assert.deepEqual(init, { codeward: { engine: { seed: 1 }, completion: { languages: ["python"] } } });
    assert.deepEqual(structuredClone(config.serverEnv), { A: "1" });
  });

  it("does not share the defaults' arrays between reads", () => {
    const a = readConfig(source({})).config;
    a.languages.push("go");
    assert.deepEqual(readConfig(source({})).config.languages, ["python"]);
  });
});

describe("serverLaunch", () => {
  const cfg = (over: Partial<CodewardConfig>): CodewardConfig => ({ ...structuredClone(DEFAULTS), ...over });

  it("defaults to codeward serve from PATH", () => {
    const l = serverLaunch(cfg({}));
    assert.equal(l.command, "codeward");
    assert.deepEqual(l.args, ["serve", "--log-level", "INFO"]);
    assert.equal(l.source, "PATH");
  });

  it("uses the Python interpreter when given", () => {
    const l = serverLaunch(cfg({ pythonPath: "/venv/bin/python", modelPath: "/m", logLevel: "debug" }));
    assert.equal(l.command, "/venv/bin/python");
    assert.deepEqual(l.args, ["-P", "-m", "codeward.server.cli", "serve", "--model", "/m", "--log-level", "DEBUG"]);
  });

  it("an explicit command wins and its own flags are kept", () => {
    const l = serverLaunch(
      cfg({ serverCommand: ["wrap", "serve", "--log-level=ERROR"], pythonPath: "/py", serverEnv: { X: "1" } }),
    );
    assert.equal(l.command, "wrap");
    assert.deepEqual(l.args, ["serve", "--log-level=ERROR"]);
    assert.deepEqual(l.env, { X: "1" });
    assert.equal(l.source, "codeward.server.command");
  });
});

describe("initializationOptions", () => {
  it("sends the server settings under codeward, with the enabled languages", () => {
    const c = { ...structuredClone(DEFAULTS), languages: ["python", "rust"], serverSettings: { engine: { seed: 3 } } };
    assert.deepEqual(initializationOptions(c), {
      codeward: { engine: { seed: 3 }, completion: { languages: ["python", "rust"] } },
    });
    assert.deepEqual(c.serverSettings, { engine: { seed: 3 } }, "input not modified");
  });

  it("keeps languages the user set in the server settings", () => {
    const c = { ...structuredClone(DEFAULTS), serverSettings: { completion: { languages: ["*"], max_lines: 3 } } };
    assert.deepEqual(initializationOptions(c).codeward.completion, { languages: ["*"], max_lines: 3 });
  });
});

describe("changes", () => {
  it("restarts for launch settings only", () => {
    const a = structuredClone(DEFAULTS);
    assert.equal(needsRestart(a, { ...a, debounceMs: 10, enable: false }), false);
    assert.equal(needsRestart(a, { ...a, pythonPath: "/p" }), true);
    assert.equal(needsRestart(a, { ...a, languages: ["go"] }), true);
    assert.equal(settingsChanged(a, { ...a, serverSettings: { engine: {} } }), true);
    assert.equal(settingsChanged(a, { ...a, logLevel: "debug" }), false);
  });

  it("document selector covers saved and untitled documents", () => {
    assert.deepEqual(documentSelector(["python"]), [
      { language: "python", scheme: "file" },
      { language: "python", scheme: "untitled" },
    ]);
  });
});
