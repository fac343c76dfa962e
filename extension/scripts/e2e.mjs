// Drives a real VS Code (code-server) in Debian's chromium through playwright-core:
// opens a Python file, types, waits for Codeward's ghost text, accepts it with Tab, then
// dismisses suggestions with Escape and by typing over them, and checks that the server's
// event store recorded show + accept + the dismissals. Started by scripts/e2e.sh, which
// sets the environment below; exits non-zero with a screenshot on any failure.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`e2e.mjs: ${name} is not set (run scripts/e2e.sh)`);
  return v;
};
const URL_ = env("E2E_URL");
const FOLDER = env("E2E_FOLDER");
const OUT = env("E2E_OUT");
const STORE = env("E2E_STORE");
const PYTHON = env("E2E_PYTHON");
const PW = env("E2E_PLAYWRIGHT"); // folder holding node_modules/playwright-core
const CHROMIUM = process.env.E2E_CHROMIUM || "/usr/bin/chromium";
const SETTINGS = env("E2E_SETTINGS"); // the profile's User/settings.json
const BROKEN_PYTHON = process.env.E2E_BROKEN_PYTHON || "/usr/bin/python3"; // no codeward in it
const require_ = createRequire(join(PW, "package.json"));
const { chromium } = require_("playwright-core");

mkdirSync(OUT, { recursive: true });
const t0 = Date.now();
const log = (...a) => console.log(`[e2e ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const assert = (ok, what) => {
  if (!ok) throw new Error(`assertion failed: ${what}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Rows of the event store, through `codeward events export` (JSONL). */
function events() {
  const r = spawnSync(PYTHON, ["-m", "codeward.server.cli", "events", "export", "--store", `sqlite:///${STORE}`], {
    encoding: "utf8",
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`codeward events export failed (${r.status}): ${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l))
    .map((e) => ({ ...e, type: e.type ?? e.kind, id: e.completion_id ?? e.id }));
}

async function waitFor(what, fn, timeoutMs, everyMs = 500) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`);
    await sleep(everyMs);
  }
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
page.setDefaultTimeout(30_000);
const shot = async (name) => {
  const file = join(OUT, `${name}.png`);
  await page.screenshot({ path: file });
  log(`screenshot ${file}`);
};
const result = { steps: {} };

try {
  await page.goto(`${URL_}/?folder=${encodeURIComponent(FOLDER)}`);
  await page.waitForSelector(".monaco-workbench", { timeout: 90_000 });
  log("workbench loaded");

  // The status bar item: the model name once the server is up, no spinner once vetting is ready.
  const status = page.locator(".statusbar-item", { hasText: /tiny-taught|Codeward/ }).first();
  await waitFor("Codeward's status bar item", async () => (await status.count()) > 0, 90_000);
  const ready = await waitFor(
    "the model and vetting to be ready",
    async () => {
      const label = await status.innerText();
      return /tiny-taught/.test(label) && !/vetting|loading|starting/i.test(label) ? label : false;
    },
    120_000,
  );
  log(`status bar: ${ready}`);
  result.statusBar = ready;

  // The status bar item opens the Codeward menu.
  await status.click();
  const menu = page.locator(".quick-input-widget .monaco-list-row", { hasText: "Turn completions off" });
  await menu.waitFor({ state: "visible", timeout: 10_000 });
  result.menu = await page.locator(".quick-input-widget .monaco-list-row").allInnerTexts();
  await shot("menu");
  // "Turn completions off" flips codeward.enable; the command palette's toggle turns it back on.
  await menu.click();
  const off = page.locator(".statusbar-item", { hasText: "Codeward off" }).first();
  await off.waitFor({ state: "visible", timeout: 10_000 });
  await page.keyboard.press("Control+Shift+P");
  await page.keyboard.type("Codeward: Toggle Completions");
  await sleep(700);
  await page.keyboard.press("Enter");
  await waitFor("completions back on", async () => /tiny-taught/.test(await status.innerText()), 10_000);
  result.toggle = "off and on";
  log("toggled off and on");

  // Open demo.py through Quick Open.
  await page.keyboard.press("Control+P");
  await page.keyboard.type("demo.py");
  await sleep(500);
  await page.keyboard.press("Enter");
  const editor = page.locator(".monaco-editor .view-lines").first();
  await editor.waitFor();
  await editor.click();
  log("demo.py open");

  const ghost = page.locator(".monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text").first();
  const text = async () => (await editor.innerText()).replace(/\u00a0/g, " ");

  /** Replace the buffer by `prefix` typed key by key, and wait for ghost text. */
  async function suggest(prefix, tries = 3) {
    for (let i = 0; i < tries; i++) {
      await page.keyboard.press("Control+A");
      await page.keyboard.press("Delete");
      await page.keyboard.type(prefix, { delay: 30 });
      try {
        await ghost.waitFor({ state: "visible", timeout: 20_000 });
        await sleep(300);
        return (await ghost.innerText()).replace(/\u00a0/g, " ");
      } catch {
        log(`no ghost text yet (try ${i + 1}); triggering explicitly`);
        await page.keyboard.press("Alt+Backslash");
        try {
          await ghost.waitFor({ state: "visible", timeout: 10_000 });
          return (await ghost.innerText()).replace(/\u00a0/g, " ");
        } catch {
          /* retry */
        }
      }
    }
    throw new Error(`no ghost text after typing ${JSON.stringify(prefix)}`);
  }

  const seq = () => events().length;
  const newEvents = (since) => events().slice(since);

  // 1. Ghost text appears; Tab accepts; the store records show + accept.
  let since = seq();
  const t1 = Date.now();
  const shown = await suggest("def add(a, b):\n");
  result.steps.ghost = { text: shown, ms: Date.now() - t1 };
  log(`ghost text: ${JSON.stringify(shown)}`);
  await shot("ghost-text");
  await page.keyboard.press("Tab");
  await waitFor("the accepted text in the editor", async () => /return a \+ b/.test(await text()), 10_000);
  log(`editor after Tab: ${JSON.stringify(await text())}`);
  await shot("accepted");
  const accepted = await waitFor(
    "show + accept in the event store",
    async () => {
      const ev = newEvents(since);
      const acc = ev.find((e) => e.type === "accept");
      return acc && ev.some((e) => e.type === "show" && e.id === acc.id) ? acc : false;
    },
    30_000,
    1000,
  );
  log(`store: accept ${accepted.id} length ${accepted.accepted_length} partial ${accepted.partial}`);
  result.steps.accept = { id: accepted.id, accepted_length: accepted.accepted_length, partial: accepted.partial };

  // 1b. Ctrl+Right accepts the next word only: a partial acceptance with its length.
  since = seq();
  await suggest("def add(a, b):\n");
  await page.keyboard.press("Control+ArrowRight");
  await waitFor("the first word in the editor", async () => /^\s*return\b/m.test((await text()).split("\n")[1] ?? ""), 10_000);
  log(`editor after Ctrl+Right: ${JSON.stringify(await text())}`);
  await page.keyboard.press("Escape");
  const partial = await waitFor(
    "a partial accept in the event store",
    async () => newEvents(since).find((e) => e.type === "accept" && e.partial === true),
    30_000,
    1000,
  );
  log(`store: accept ${partial.id} length ${partial.accepted_length} partial ${partial.partial}`);
  result.steps.partial = { id: partial.id, accepted_length: partial.accepted_length, partial: partial.partial };

  // 2. Escape dismisses.
  since = seq();
  await suggest("def add(a, b):\n");
  await page.keyboard.press("Escape");
  await waitFor("ghost text to go", async () => !(await ghost.isVisible()), 5_000);
  const esc = await waitFor(
    "a dismissal with reason escape",
    async () => newEvents(since).find((e) => e.type === "dismiss" && e.reason === "escape"),
    30_000,
    1000,
  );
  log(`store: dismiss ${esc.id} reason ${esc.reason}`);
  result.steps.escape = { id: esc.id, reason: esc.reason };

  // 3. Typing something else dismisses (typed over).
  since = seq();
  await suggest("def add(a, b):\n");
  await page.keyboard.type("pass");
  const over = await waitFor(
    "a dismissal with reason typed-over",
    async () => newEvents(since).find((e) => e.type === "dismiss" && e.reason === "typed-over"),
    30_000,
    1000,
  );
  log(`store: dismiss ${over.id} reason ${over.reason}`);
  result.steps.typedOver = { id: over.id, reason: over.reason };
  await shot("final");

  // 4. A suggestion the analyzers flag (the tiny model suggests `os.system(cmd)`): it is
  // annotated (ghost text + a warning count in the status bar) or blocked (no ghost text);
  // either way the explain command lists its findings with rule ids.
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.type("import os\n\ndef run(cmd):\n", { delay: 30 });
  const flagged = await waitFor(
    "the os.system completion in the event store",
    async () => events().find((e) => e.type === "completion" && /os\.system/.test(e.suggestion ?? "")),
    30_000,
    1000,
  );
  log(`store: completion ${flagged.id} action ${flagged.action} blocked ${flagged.blocked}`);
  if (await ghost.isVisible()) log(`flagged ghost text shown; status bar: ${JSON.stringify(await status.innerText())}`);
  await shot("flagged");
  await page.keyboard.press("Control+Shift+P");
  await page.keyboard.type("Codeward: Why Was This");
  await sleep(700);
  await page.keyboard.press("Enter");
  const rows = page.locator(".quick-input-widget .monaco-list-row");
  const findingsText = await waitFor(
    "findings in the explain quick pick",
    async () => {
      const t = (await rows.allInnerTexts()).join("\n");
      return /CW-|B6\d\d|CWE/.test(t) ? t : false;
    },
    15_000,
  );
  log(`explain: ${JSON.stringify(findingsText.split("\n").slice(0, 4))}`);
  result.steps.explain = { action: flagged.action, blocked: flagged.blocked, rows: findingsText.split("\n").slice(0, 8) };
  await shot("explain");
  await page.keyboard.press("Escape");

  // 5. A Python without Codeward: the restart fails with a message that says how to fix it.
  const settings = JSON.parse(readFileSync(SETTINGS, "utf8"));
  writeFileSync(SETTINGS, JSON.stringify({ ...settings, "codeward.server.pythonPath": BROKEN_PYTHON }, null, 2));
  const toast = page.locator(".notifications-toasts .notification-toast", { hasText: /Codeward cannot start/ }).first();
  try {
    await toast.waitFor({ state: "visible", timeout: 10_000 });
  } catch {
    log("settings change not seen yet: reloading the window");
    await page.keyboard.press("Control+Shift+P");
    await page.keyboard.type("Developer: Reload Window");
    await sleep(700);
    await page.keyboard.press("Enter");
    await toast.waitFor({ state: "visible", timeout: 90_000 });
  }
  const message = (await toast.innerText()).replace(/\s+/g, " ");
  log(`start failure: ${JSON.stringify(message)}`);
  assert(/pip install codeward/.test(message), `the message says how to fix it: ${message}`);
  result.steps.startFailure = { message };
  await shot("start-failure");

  result.ok = true;
} catch (err) {
  result.ok = false;
  result.error = String(err?.stack ?? err);
  console.error(err);
  await shot("failure").catch(() => undefined);
} finally {
  result.seconds = (Date.now() - t0) / 1000;
  writeFileSync(join(OUT, "result.json"), JSON.stringify(result, null, 2));
  await browser.close();
}
log(result.ok ? "PASS" : "FAIL");
process.exit(result.ok ? 0 : 1);
