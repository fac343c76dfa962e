/**
 * Starting the server process, and messages that say what went wrong and how to fix it.
 * No `vscode` import: unit-tested with real processes.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";

import type { Launch } from "./config";

export type StartProblem = "not-found" | "not-executable" | "spawn-failed" | "exited";

export class StartError extends Error {
  constructor(
    readonly problem: StartProblem,
    message: string,
  ) {
    super(message);
    this.name = "StartError";
  }
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where `command` resolves: itself when it contains a path separator, else a PATH entry. */
export function resolveCommand(
  command: string,
  envPath: string | undefined,
  cwd: string,
  platform: NodeJS.Platform = process.platform,
): string | undefined {
  const exts = platform === "win32" ? ["", ".exe", ".cmd", ".bat"] : [""];
  if (command.includes("/") || (platform === "win32" && command.includes("\\"))) {
    const full = isAbsolute(command) ? command : resolve(cwd, command);
    return exts.map((e) => full + e).find(isExecutableFile);
  }
  for (const dir of (envPath ?? "").split(delimiter)) {
    if (!dir) continue;
    const hit = exts.map((e) => join(dir, command + e)).find(isExecutableFile);
    if (hit) return hit;
  }
  return undefined;
}

const quote = (parts: string[]) =>
  parts.map((p) => (/^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, "'\\''")}'`)).join(" ");

export function describe(launch: Launch): string {
  return quote([launch.command, ...launch.args]);
}

/** How Codeward is installed: from a checkout into a virtual environment (not from PyPI, and
 * not into a system Python, which refuses pip installs on Debian and Ubuntu). */
const INSTALL =
  "Install it from a Codeward checkout into a virtual environment: " +
  "`cd /path/to/codeward && python3 -m venv .venv && .venv/bin/pip install -e .`";
const POINT =
  "then set `codeward.server.pythonPath` to `/path/to/codeward/.venv/bin/python` " +
  "(or `codeward.server.command` to `[\"/path/to/codeward/.venv/bin/codeward\", \"serve\"]`).";

function fixFor(launch: Launch): string {
  switch (launch.source) {
    case "PATH":
      return `${INSTALL}, ${POINT}`;
    case "codeward.server.pythonPath":
      return (
        `\`codeward.server.pythonPath\` is ${launch.command}: it must be the Python of a ` +
        `virtual environment that has Codeward installed. ${INSTALL}, ${POINT}`
      );
    default:
      return "Check `codeward.server.command`: the first entry must be an executable program.";
  }
}

/** The message shown when the process cannot be started at all. */
export function notStartedMessage(launch: Launch, problem: StartProblem, detail = ""): string {
  const what =
    problem === "not-found"
      ? `\`${launch.command}\` was not found`
      : problem === "not-executable"
        ? `\`${launch.command}\` is not an executable file`
        : `\`${describe(launch)}\` failed to start${detail ? ` (${detail})` : ""}`;
  return `Codeward cannot start its language server: ${what}. ${fixFor(launch)}`;
}

/** The message shown when the server exited on its own; `stderr` is the tail of its log. */
export function exitedMessage(launch: Launch, code: number | null, stderr: string): string {
  const missing = /No module named '?(codeward[\w.]*)'?/.exec(stderr);
  if (missing) {
    return (
      `Codeward cannot start its language server: the Python at \`${launch.command}\` has no ` +
      `\`${missing[1]}\` module. ${fixFor({ ...launch, source: "codeward.server.pythonPath" })}`
    );
  }
  const last = stderr.trim().split("\n").filter(Boolean).slice(-1)[0] ?? "";
  return (
    `The Codeward language server exited (code ${code ?? "signal"})` +
    (last ? `: ${last.slice(0, 300)}` : "") +
    ". See the Codeward log for details."
  );
}

/** Keeps the last `max` characters of a stream (the server's stderr). */
export class Tail {
  private text = "";
  constructor(private readonly max = 4000) {}
  push(chunk: string): void {
    this.text = (this.text + chunk).slice(-this.max);
  }
  toString(): string {
    return this.text;
  }
}

export interface StartOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  onStderr?: (chunk: string) => void;
}

/** Spawns the server; rejects with a StartError (carrying the user-facing message). */
export function startServer(launch: Launch, options: StartOptions): Promise<ChildProcess> {
  const env = { ...(options.env ?? process.env), ...launch.env };
  const resolved = resolveCommand(launch.command, env.PATH, options.cwd);
  if (!resolved) {
    const full = isAbsolute(launch.command) ? launch.command : undefined;
    let problem: StartProblem = "not-found";
    if (full) {
      try {
        statSync(full);
        problem = "not-executable";
      } catch {
        problem = "not-found";
      }
    }
    return Promise.reject(new StartError(problem, notStartedMessage(launch, problem)));
  }
  return new Promise((ok, fail) => {
    const child = spawn(resolved, launch.args, { cwd: options.cwd, env, stdio: "pipe" });
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => options.onStderr?.(chunk));
    child.once("spawn", () => ok(child));
    child.once("error", (err: NodeJS.ErrnoException) => {
      const problem: StartProblem = err.code === "ENOENT" ? "not-found" : "spawn-failed";
      fail(new StartError(problem, notStartedMessage(launch, problem, err.message)));
    });
  });
}
