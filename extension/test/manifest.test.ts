import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";

// The compiled test runs from out/test/, two levels below the extension folder.
const manifest = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8"));
const properties: Record<string, { scope?: string }> = manifest.contributes.configuration.properties;

describe("package.json settings", () => {
  // A workspace's .vscode/settings.json comes with the repository: it must not choose the
  // program the extension runs, its environment, or the server settings (engine.url would
  // send the developer's code to a host of the repository's choosing, unconfirmed).
  for (const key of ["codeward.server.command", "codeward.server.pythonPath",
    "codeward.server.env", "codeward.server.settings"]) {
    it(`${key} is a user (machine) setting`, () => {
      assert.equal(properties[key]?.scope, "machine");
    });
  }

  it("leaves the everyday settings to the workspace", () => {
    for (const key of ["codeward.enable", "codeward.languages", "codeward.debounceMs"]) {
      assert.equal(properties[key]?.scope, undefined, key);
    }
  });
});
