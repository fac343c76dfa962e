/**
 * VS Code wiring: starts the language client, feeds editor events to the FeedbackTracker,
 * owns the status bar item, the menu and the explain view. The decisions live in plain
 * modules (config, feedback, inline, launch, status, explain) that are unit-tested.
 */

import * as os from "node:os";
import * as readline from "node:readline";
import * as vscode from "vscode";
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  State,
  type LanguageClientOptions,
} from "vscode-languageclient/node";

import {
  documentSelector,
  initializationOptions,
  needsRestart,
  readConfig,
  serverLaunch,
  settingsChanged,
  type CodewardConfig,
} from "./config";
import type { ExplainResponse } from "./explain";
import { showExplanation } from "./explainView";
import { FeedbackTracker, type FeedbackSink } from "./feedback";
import { CLIENT_ACCEPT_COMMAND, logLevelOf, parseClientAccept, provideInline, type InlineResult } from "./inline";
import { exitedMessage, notStartedMessage, resolveCommand, startServer, StartError, Tail } from "./launch";
import { activityLines, pollInterval, statusView, type ClientState, type LastVerdict, type ServerStatus } from "./status";

const DID_SHOW = "codeward/didShowCompletion";
const DID_ACCEPT = "codeward/didAcceptCompletion";
const DID_DISMISS = "codeward/didDismissCompletion";

/** The client's own "couldn't create connection" toast would repeat our message. */
class CodewardLanguageClient extends LanguageClient {
  override error(message: string, data?: unknown, showNotification: boolean | "force" = true): void {
    const quiet = /couldn't create connection to server/.test(message);
    super.error(message, data, quiet ? false : showNotification);
  }
}

class Codeward implements vscode.Disposable {
  private config: CodewardConfig;
  private client?: LanguageClient;
  private clientState: ClientState = "stopped";
  private error?: string;
  private server?: ServerStatus;
  private last?: LastVerdict;
  private readonly tail = new Tail();
  private exitCode: number | null = null;
  private readonly crashes: number[] = [];
  private readonly tracker: FeedbackTracker;
  private readonly statusItem: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];
  private pollTimer?: NodeJS.Timeout;
  private readonly shownProblems = new Set<string>();

  constructor(private readonly output: vscode.LogOutputChannel) {
    this.config = this.readConfig();
    const sink: FeedbackSink = {
      didShow: (p) => this.notify(DID_SHOW, p),
      didAccept: (p) => this.ended(DID_ACCEPT, p),
      didDismiss: (p) => this.ended(DID_DISMISS, p),
    };
    this.tracker = new FeedbackTracker(sink, { timeoutMs: this.config.dismissTimeoutSeconds * 1000 });
    this.statusItem = vscode.window.createStatusBarItem("codeward.status", vscode.StatusBarAlignment.Right, 100);
    this.statusItem.name = "Codeward";
    this.statusItem.command = "codeward.showMenu";
    this.statusItem.show();
    const tick = setInterval(() => this.tracker.tick(), 1000);
    this.disposables.push(
      this.statusItem,
      { dispose: () => clearInterval(tick) },
      vscode.commands.registerCommand(CLIENT_ACCEPT_COMMAND, (...args: unknown[]) => this.onAccept(args)),
      vscode.commands.registerCommand("codeward.dismissInlineSuggestion", () => this.onEscape()),
      vscode.commands.registerCommand("codeward.acceptNextWord", () => this.partialAccept("acceptNextWord")),
      vscode.commands.registerCommand("codeward.acceptNextLine", () => this.partialAccept("acceptNextLine")),
      vscode.commands.registerCommand("codeward.toggle", () => this.toggle()),
      vscode.commands.registerCommand("codeward.showMenu", () => this.showMenu()),
      vscode.commands.registerCommand("codeward.explain", (id?: string) => this.explain(id)),
      vscode.commands.registerCommand("codeward.showLog", () => this.output.show(true)),
      vscode.commands.registerCommand("codeward.restartServer", () => this.restart()),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.contentChanges.length === 0) return;
        this.tracker.documentChanged(
          e.document.uri.toString(),
          e.contentChanges.map((c) => ({
            startLine: c.range.start.line,
            startCharacter: c.range.start.character,
            endLine: c.range.end.line,
            endCharacter: c.range.end.character,
            text: c.text,
          })),
        );
      }),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        const uri = e.textEditor.document.uri.toString();
        const sel = e.selections[0];
        // Let a document change of the same keystroke arrive first.
        setTimeout(() => this.tracker.selectionChanged(uri, sel.active.line, sel.active.character, sel.isEmpty), 0);
      }),
      vscode.window.onDidChangeActiveTextEditor((editor) =>
        this.tracker.editorChanged(editor?.document.uri.toString()),
      ),
      vscode.workspace.onDidChangeConfiguration((e) => this.onConfigChanged(e)),
    );
    this.render();
  }

  // -- settings -----------------------------------------------------------------------------

  private readConfig(): CodewardConfig {
    const { config, problems } = readConfig(vscode.workspace.getConfiguration("codeward"));
    for (const p of problems) {
      this.output.warn(p);
      if (!this.shownProblems.has(p)) {
        this.shownProblems.add(p);
        void vscode.window.showWarningMessage(`Codeward settings: ${p}`, "Open Settings").then((pick) => {
          if (pick) void vscode.commands.executeCommand("workbench.action.openSettings", "codeward");
        });
      }
    }
    return config;
  }

  private inlineSuggestEnabled(doc?: vscode.TextDocument): boolean {
    return vscode.workspace.getConfiguration("editor", doc).get<boolean>("inlineSuggest.enabled", true);
  }

  private async onConfigChanged(e: vscode.ConfigurationChangeEvent): Promise<void> {
    if (e.affectsConfiguration("editor.inlineSuggest.enabled")) this.render();
    if (!e.affectsConfiguration("codeward")) return;
    const before = this.config;
    this.config = this.readConfig();
    this.tracker.setTimeout(this.config.dismissTimeoutSeconds * 1000);
    if (needsRestart(before, this.config)) {
      this.output.info("server settings changed: restarting the server");
      await this.restart();
    } else if (settingsChanged(before, this.config) && this.client?.state === State.Running) {
      await this.client.sendNotification("workspace/didChangeConfiguration", {
        settings: initializationOptions(this.config),
      });
    }
    this.render();
  }

  // -- the language client ------------------------------------------------------------------

  async start(): Promise<void> {
    const launch = serverLaunch(this.config);
    const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? os.homedir();
    this.output.info(`starting ${launch.command} ${launch.args.join(" ")} (from ${launch.source})`);
    if (!resolveCommand(launch.command, { ...process.env, ...launch.env }.PATH, cwd)) {
      // Checked here so that the user gets one message that says how to fix it.
      this.fail(notStartedMessage(launch, "not-found"));
      return;
    }
    this.exitCode = null;
    const clientOptions: LanguageClientOptions = {
      documentSelector: documentSelector(this.config.languages),
      outputChannel: this.output,
      initializationOptions: initializationOptions(this.config),
      stdioOptions: {
        stdout: () => undefined, // the protocol stream
        stderr: (input, channel) => {
          readline.createInterface({ input, crlfDelay: Infinity, terminal: false }).on("line", (line) => {
            this.tail.push(`${line}\n`);
            channel[logLevelOf(line)](line);
          });
        },
      },
      middleware: {
        provideInlineCompletionItems: (document, position, context, token, next) =>
          this.provideInline(document, position, context, token, next),
      },
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue }),
        closed: () => this.onClosed(launch),
      },
      initializationFailedHandler: (err) => {
        if ((this.clientState as ClientState) !== "failed") {
          this.fail(`Codeward's language server failed to initialize: ${err instanceof Error ? err.message : String(err)}`);
        }
        return false;
      },
    };
    const client = new CodewardLanguageClient(
      "codeward",
      "Codeward",
      async () => {
        const child = await startServer(launch, { cwd });
        child.once("exit", (code) => (this.exitCode = code));
        return child;
      },
      clientOptions,
    );
    this.client = client;
    this.clientState = "starting";
    this.render();
    const failed = () => (this.clientState as ClientState) === "failed";
    try {
      await client.start();
    } catch (err) {
      if (!failed()) {
        this.fail(err instanceof StartError ? err.message : exitedMessage(launch, this.exitCode, this.tail.toString()));
      }
      return;
    }
    if (failed() || client.state !== State.Running) {
      if (!failed()) this.fail(exitedMessage(launch, this.exitCode, this.tail.toString()));
      return;
    }
    this.clientState = "running";
    this.error = undefined;
    this.render();
    void this.pollStatus();
  }

  private onClosed(launch: ReturnType<typeof serverLaunch>) {
    const now = Date.now();
    this.crashes.push(now);
    while (this.crashes.length && now - this.crashes[0] > 180_000) this.crashes.shift();
    if (this.crashes.length >= 3 || this.clientState === "starting") {
      this.fail(exitedMessage(launch, this.exitCode, this.tail.toString()));
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    this.output.warn("the server exited; restarting it");
    return { action: CloseAction.Restart, handled: true };
  }

  private fail(message: string): void {
    this.clientState = "failed";
    this.error = message;
    this.output.error(message);
    this.render();
    void vscode.window.showErrorMessage(message, "Open Settings", "Show Log").then((pick) => {
      if (pick === "Open Settings") void vscode.commands.executeCommand("workbench.action.openSettings", "codeward.server");
      if (pick === "Show Log") this.output.show(true);
    });
  }

  async restart(): Promise<void> {
    await this.stop();
    this.crashes.length = 0;
    await this.start();
  }

  async stop(): Promise<void> {
    clearTimeout(this.pollTimer);
    const client = this.client;
    this.client = undefined;
    this.server = undefined;
    this.clientState = "stopped";
    if (client && client.state !== State.Stopped) {
      try {
        await client.stop(2000);
      } catch (err) {
        this.output.warn(`stopping the server: ${String(err)}`);
      }
    }
  }

  private notify(method: string, params: object): void {
    const client = this.client;
    this.output.debug(`${method} ${JSON.stringify(params)}`);
    if (client?.state === State.Running) {
      client.sendNotification(method, params).catch((err) => this.output.warn(`${method}: ${String(err)}`));
    }
  }

  /** A suggestion's outcome: report it, and drop its findings from the status bar. */
  private ended(method: string, params: object): void {
    this.notify(method, params);
    if (this.last && !this.tracker.active) {
      this.last = undefined;
      this.render();
    }
  }

  private async pollStatus(): Promise<void> {
    clearTimeout(this.pollTimer);
    const client = this.client;
    if (!client || client.state !== State.Running) return;
    try {
      this.server = await client.sendRequest<ServerStatus>("codeward/status", {});
    } catch (err) {
      this.output.debug(`codeward/status: ${String(err)}`);
    }
    this.render();
    this.pollTimer = setTimeout(() => void this.pollStatus(), pollInterval(this.server) * 1000);
  }

  // -- inline completions -------------------------------------------------------------------

  private async provideInline(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
    next: (
      document: vscode.TextDocument,
      position: vscode.Position,
      context: vscode.InlineCompletionContext,
      token: vscode.CancellationToken,
    ) => vscode.ProviderResult<vscode.InlineCompletionItem[] | vscode.InlineCompletionList>,
  ): Promise<vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined> {
    return provideInline(
      document.uri.toString(),
      position,
      context.triggerKind === vscode.InlineCompletionTriggerKind.Automatic,
      token,
      () => next(document, position, context, token) as PromiseLike<InlineResult<vscode.InlineCompletionItem>>,
      {
        enabled: () => this.config.enable,
        inlineSuggestEnabled: () => this.inlineSuggestEnabled(document),
        debounceMs: () => this.config.debounceMs,
        shown: (suggestion, who) => {
          this.tracker.shown(suggestion);
          this.last = who.findings?.length ? { action: who.action ?? "annotate", findings: who.findings } : undefined;
          this.render();
        },
      },
    ) as Promise<vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined>;
  }

  private onAccept(args: unknown[]): void {
    const data = parseClientAccept(args);
    if (data) this.tracker.accepted(data.id, data.index, data.length);
  }

  private async onEscape(): Promise<void> {
    this.tracker.escape();
    await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
  }

  private async partialAccept(which: "acceptNextWord" | "acceptNextLine"): Promise<void> {
    this.tracker.partialAcceptIntent();
    await vscode.commands.executeCommand(`editor.action.inlineSuggest.${which}`);
  }

  // -- status bar, menu, explain ------------------------------------------------------------

  private render(): void {
    const view = statusView({
      client: this.clientState,
      enabled: this.config.enable,
      inlineSuggestEnabled: this.inlineSuggestEnabled(vscode.window.activeTextEditor?.document),
      server: this.server,
      error: this.error,
      last: this.last,
    });
    this.statusItem.text = view.text;
    this.statusItem.tooltip = view.tooltip;
    this.statusItem.backgroundColor =
      view.kind === "error"
        ? new vscode.ThemeColor("statusBarItem.errorBackground")
        : view.kind === "warning"
          ? new vscode.ThemeColor("statusBarItem.warningBackground")
          : undefined;
  }

  private async toggle(): Promise<void> {
    const cfg = vscode.workspace.getConfiguration("codeward");
    const inspect = cfg.inspect<boolean>("enable");
    const target =
      inspect?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
    await cfg.update("enable", !this.config.enable, target);
    if (this.config.enable) await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
  }

  private async showMenu(): Promise<void> {
    type Entry = vscode.QuickPickItem & { run: () => unknown };
    const entries: Entry[] = [
      {
        label: this.config.enable ? "$(circle-slash) Turn completions off" : "$(check) Turn completions on",
        run: () => this.toggle(),
      },
      { label: "$(question) Explain the last suggestion", run: () => this.explain() },
      { label: "$(output) Show log", run: () => this.output.show(true) },
      { label: "$(debug-restart) Restart server", run: () => this.restart() },
      {
        label: "$(settings-gear) Open settings",
        run: () => vscode.commands.executeCommand("workbench.action.openSettings", "codeward"),
      },
    ];
    const summary = activityLines(this.server);
    if (summary.length > 0) {
      entries.push({ label: "Now", kind: vscode.QuickPickItemKind.Separator, run: () => undefined });
      for (const line of summary) entries.push({ label: `$(pulse) ${line}`, run: () => this.output.show(true) });
    }
    const metrics = this.server?.metrics_url;
    if (metrics) {
      entries.push({ label: "$(graph) Open metrics", detail: metrics, run: () => vscode.env.openExternal(vscode.Uri.parse(metrics)) });
    }
    const pick = await vscode.window.showQuickPick(entries, { title: "Codeward", placeHolder: this.statusItem.tooltip as string });
    await pick?.run();
  }

  async explain(id?: string): Promise<void> {
    const client = this.client;
    if (!client || client.state !== State.Running) {
      void vscode.window.showWarningMessage("Codeward: the server is not running.", "Show Log").then((p) => {
        if (p) this.output.show(true);
      });
      return;
    }
    // The suggestion showing now; else the server's latest completion (blocked ones too).
    const wanted = typeof id === "string" ? id : this.tracker.active?.id;
    await showExplanation(await client.sendRequest<ExplainResponse>("codeward/explain", wanted ? { id: wanted } : {}));
  }

  dispose(): void {
    this.tracker.dispose();
    clearTimeout(this.pollTimer);
    for (const d of this.disposables) d.dispose();
  }
}

let instance: Codeward | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("Codeward", { log: true });
  context.subscriptions.push(output);
  instance = new Codeward(output);
  context.subscriptions.push(instance);
  try {
    await instance.start();
  } catch (err) {
    output.error(`Codeward failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    void vscode.window.showErrorMessage(`Codeward failed to start: ${String(err)}`, "Show Log").then((p) => {
      if (p) output.show(true);
    });
  }
}

export async function deactivate(): Promise<void> {
  const cw = instance;
  instance = undefined;
  if (!cw) return;
  cw.dispose(); // reports open suggestions before the connection goes
  await cw.stop();
}
