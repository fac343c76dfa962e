import { strict as assert } from "node:assert";
import { describe, it } from "node:test";

import { activityLines, modelLabel, pollInterval, statusView, vetting, type StatusInput } from "../src/status";

const server = {
  version: "0.1.0",
  model: "codeward-tiny",
  model_version: "3",
  model_dir: "/m",
  model_error: "",
  loading: false,
  analyzers: { bandit: "ready", license: "ready" },
};
const base: StatusInput = { client: "running", enabled: true, inlineSuggestEnabled: true, server };

describe("status bar", () => {
  it("shows the model name and version when all is ready", () => {
    const v = statusView(base);
    assert.equal(v.text, "$(shield) codeward-tiny 3");
    assert.match(v.tooltip, /Vetting: ready \(bandit: ready, license: ready\)/);
    assert.equal(v.kind, "normal");
    assert.equal(modelLabel({ model: "m" }), "m");
  });

  it("shows vetting warming up", () => {
    const v = statusView({ ...base, server: { ...server, analyzers: { bandit: "ready", license: "warming" } } });
    assert.equal(v.text, "$(shield) codeward-tiny 3 $(sync~spin) vetting");
    assert.equal(vetting({ a: "warming" }).state, "warming");
    assert.equal(vetting({ a: "error" }).state, "degraded");
    assert.equal(vetting({}).state, "none");
  });

  it("off, inline suggestions disabled, failed, no model", () => {
    assert.equal(statusView({ ...base, enabled: false }).text, "$(circle-slash) Codeward off");
    const inl = statusView({ ...base, inlineSuggestEnabled: false });
    assert.equal(inl.kind, "warning");
    assert.match(inl.tooltip, /editor\.inlineSuggest\.enabled/);
    const failed = statusView({ ...base, client: "failed", server: undefined, error: "`codeward` was not found" });
    assert.equal(failed.kind, "error");
    assert.match(failed.tooltip, /was not found/);
    const noModel = statusView({ ...base, server: { ...server, model: null, model_error: "no such dir" } });
    assert.equal(noModel.text, "$(warning) Codeward: no model");
    assert.equal(statusView({ ...base, server: { ...server, loading: true } }).text, "$(sync~spin) Codeward: loading model");
  });

  it("shows the findings of the suggestion showing now", () => {
    const v = statusView({ ...base, last: { action: "annotate", findings: [{ rule_id: "CW-SEC-1", message: "shell command" }] } });
    assert.equal(v.text, "$(shield) codeward-tiny 3 $(warning) 1");
    assert.equal(v.kind, "warning");
    assert.match(v.tooltip, /Suggestion showing now \(annotate\):\n  CW-SEC-1: shell command/);
    assert.equal(statusView({ ...base, last: { action: "allow", findings: [] } }).text, "$(shield) codeward-tiny 3");
  });

  it("polls fast while warming", () => {
    assert.equal(pollInterval(undefined), 2);
    assert.equal(pollInterval({ ...server, analyzers: { x: "warming" } }), 2);
    assert.equal(pollInterval(server), 30);
  });

  it("shows the live summary: index, last latencies, blocked today, counts, metrics", () => {
    const live = {
      ...server,
      index: { ready: true, tokens: 1234567 },
      activity: {
        last_latency_ms: { total: 41.6, prompt: 2.2, generation: 30.4, vetting: 5.1 },
        recent_p50_ms: 38.2, recent_count: 20, blocked_today: 3,
        requests: 25, shown: 12, accepted: 4, dismissed: 6,
      },
      metrics_url: "http://127.0.0.1:9464/metrics",
    };
    assert.deepEqual(activityLines(live), [
      "Index: ready, 1.2M tokens",
      "Last completion: 42 ms (prompt 2, generation 30, vetting 5)",
      "Median of the last 20: 38 ms",
      "Blocked today: 3",
      "Since start: 25 requests, 12 shown, 4 accepted, 6 dismissed",
    ]);
    const tip = statusView({ ...base, server: live }).tooltip;
    assert.match(tip, /Blocked today: 3/);
    assert.match(tip, /Metrics: http:\/\/127\.0\.0\.1:9464\/metrics/);
    assert.deepEqual(activityLines({ ...server, index: { ready: false } }), ["Index: building"]);
    assert.deepEqual(activityLines({ ...server, index: { enabled: false } }), []);
    assert.deepEqual(activityLines({ ...server, index: { ready: false, error: "disk full" } }), ["Index: error (disk full)"]);
    assert.deepEqual(activityLines(server), []);
    assert.deepEqual(activityLines({ ...server, activity: { blocked_today: 0 } }), ["Blocked today: 0"]);
  });
});
