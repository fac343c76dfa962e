/**
 * The extension's settings: read from a `get(key)` source (VS Code's
 * WorkspaceConfiguration in production, a plain object in tests), validated field by field.
 * A bad value never throws: it keeps the default and yields one message naming the
 * setting and what was expected.
 */

export const LOG_LEVELS = ["error", "warning", "info", "debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface CodewardConfig {
  enable: boolean;
  /** Program and arguments; empty = derived from `pythonPath` or `codeward` on PATH. */
  serverCommand: string[];
  pythonPath: string;
  modelPath: string;
  serverEnv: Record<string, string>;
  /** Mirrors `[tool.codeward]`; sent as initializationOptions.codeward. */
  serverSettings: Record<string, unknown>;
  languages: string[];
  debounceMs: number;
  dismissTimeoutSeconds: number;
  logLevel: LogLevel;
}

export const DEFAULTS: CodewardConfig = {
  enable: true,
  serverCommand: [],
  pythonPath: "",
  modelPath: "",
  serverEnv: {},
  serverSettings: {},
  languages: ["python"],
  debounceMs: 75,
  dismissTimeoutSeconds: 30,
  logLevel: "info",
};

/** The part of vscode.WorkspaceConfiguration this module uses (section "codeward"). */
export interface ConfigSource {
  get(key: string): unknown;
}

type Checked<T> = { value: T } | { error: string };
type Check<T> = (value: unknown) => Checked<T>;

/** A plain deep copy: VS Code hands out configuration values as read-only proxies, which
 * structuredClone rejects and which must not be modified. */
const plain = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const ok = <T>(value: T): Checked<T> => ({ value });
const bad = (error: string): { error: string } => ({ error });

const bool: Check<boolean> = (v) => (typeof v === "boolean" ? ok(v) : bad("expected true or false"));
const str: Check<string> = (v) => (typeof v === "string" ? ok(v.trim()) : bad("expected a string"));
const strList: Check<string[]> = (v) =>
  Array.isArray(v) && v.every((s) => typeof s === "string")
    ? ok(v.map((s: string) => s.trim()).filter((s) => s.length > 0))
    : bad("expected a list of strings");
const intIn = (lo: number, hi: number): Check<number> => (v) =>
  typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi
    ? ok(v)
    : bad(`expected an integer from ${lo} to ${hi}`);
const strMap: Check<Record<string, string>> = (v) =>
  isPlainObject(v) && Object.values(v).every((s) => typeof s === "string")
    ? ok(plain(v as Record<string, string>))
    : bad("expected an object of string values");
const object: Check<Record<string, unknown>> = (v) =>
  isPlainObject(v) ? ok(plain(v)) : bad("expected an object (the tables of [tool.codeward])");
const logLevel: Check<LogLevel> = (v) =>
  typeof v === "string" && (LOG_LEVELS as readonly string[]).includes(v.toLowerCase())
    ? ok(v.toLowerCase() as LogLevel)
    : bad(`expected one of ${LOG_LEVELS.join(", ")}`);

const FIELDS: { [K in keyof CodewardConfig]: [string, Check<CodewardConfig[K]>] } = {
  enable: ["enable", bool],
  serverCommand: ["server.command", strList],
  pythonPath: ["server.pythonPath", str],
  modelPath: ["server.modelPath", str],
  serverEnv: ["server.env", strMap],
  serverSettings: ["server.settings", object],
  languages: ["languages", strList],
  debounceMs: ["debounceMs", intIn(0, 2000)],
  dismissTimeoutSeconds: ["dismissTimeoutSeconds", intIn(5, 600)],
  logLevel: ["logLevel", logLevel],
};

export interface ReadResult {
  config: CodewardConfig;
  problems: string[];
}

export function readConfig(source: ConfigSource): ReadResult {
  const config = structuredClone(DEFAULTS) as unknown as Record<string, unknown>;
  const problems: string[] = [];
  for (const [name, [key, check]] of Object.entries(FIELDS) as [
    keyof CodewardConfig,
    [string, Check<unknown>],
  ][]) {
    const raw = source.get(key);
    if (raw === undefined || raw === null) continue;
    const checked = check(raw);
    if ("error" in checked) {
      problems.push(
        `codeward.${key}: ${checked.error}, got ${JSON.stringify(raw)}; using ${JSON.stringify(DEFAULTS[name])}`,
      );
      continue;
    }
    config[name] = checked.value;
  }
  const result = config as unknown as CodewardConfig;
  if (result.languages.length === 0) {
    problems.push(`codeward.languages: empty; using ${JSON.stringify(DEFAULTS.languages)}`);
    result.languages = [...DEFAULTS.languages];
  }
  return { config: result, problems };
}

export interface Launch {
  command: string;
  args: string[];
  env: Record<string, string>;
  /** How the command was chosen, for messages. */
  source: "codeward.server.command" | "codeward.server.pythonPath" | "PATH";
}

/** The process to start: the explicit command, else `<python> -P -m codeward.server.cli serve`,
 * else `codeward serve` from PATH. `--model` and `--log-level` are appended unless given. */
export function serverLaunch(config: CodewardConfig): Launch {
  let command: string;
  let args: string[];
  let source: Launch["source"];
  if (config.serverCommand.length > 0) {
    [command, ...args] = config.serverCommand;
    source = "codeward.server.command";
  } else if (config.pythonPath) {
    command = config.pythonPath;
    args = ["-P", "-m", "codeward.server.cli", "serve"]; // -P: the workspace folder (the cwd) is not on sys.path
    source = "codeward.server.pythonPath";
  } else {
    command = "codeward";
    args = ["serve"];
    source = "PATH";
  }
  const has = (flag: string) => args.some((a) => a === flag || a.startsWith(`${flag}=`));
  if (config.modelPath && !has("--model")) args.push("--model", config.modelPath);
  if (!has("--log-level")) args.push("--log-level", config.logLevel.toUpperCase());
  return { command, args, env: { ...config.serverEnv }, source };
}

/** initializationOptions: `{codeward: {...server.settings, completion.languages}}`. */
export function initializationOptions(config: CodewardConfig): { codeward: Record<string, unknown> } {
  const settings = plain(config.serverSettings);
  const completion = isPlainObject(settings.completion) ? settings.completion : {};
  if (completion.languages === undefined) completion.languages = [...config.languages];
  settings.completion = completion;
  return { codeward: settings };
}

/** Settings whose change needs the language client restarted. */
export function needsRestart(before: CodewardConfig, after: CodewardConfig): boolean {
  const keys: (keyof CodewardConfig)[] = [
    "serverCommand", "pythonPath", "modelPath", "serverEnv", "languages", "logLevel",
  ];
  return keys.some((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

/** Settings the running server can take through workspace/didChangeConfiguration. */
export function settingsChanged(before: CodewardConfig, after: CodewardConfig): boolean {
  return JSON.stringify(before.serverSettings) !== JSON.stringify(after.serverSettings);
}

export function documentSelector(languages: string[]): { language: string; scheme: string }[] {
  return languages.flatMap((language) => [
    { language, scheme: "file" },
    { language, scheme: "untitled" },
  ]);
}
