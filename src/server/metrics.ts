// metrics.ts - the gateway's counters and histograms plus the engine's own counters, rendered
// in the Prometheus text format for GET /metrics. Names follow DESIGN.md section 4: tau, tree
// dedup, drafted/accepted, step time by phase, queue depth, TTFT and inter-token latency (per
// token: a speculative step that emits k tokens after a gap g counts k latencies of g/k). The
// engine's series are the default model's; each served model's state, loads and evictions
// (src/engine/pool.ts) come labelled by model.
import type { EnginePool, PoolModel } from "../engine/pool.ts";
import { StepTotals, type EngineStats } from "../engine/stats.ts";
import type { StepStats } from "../engine/types.ts";
import type { RunObserver } from "./run.ts";
import type { Usage } from "./usage.ts";

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const ITL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1];

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(v: number, times = 1): void {
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.counts[i]! += times;
    this.sum += v * times;
    this.count += times;
  }
  render(name: string, help: string): string[] {
    const out = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    this.buckets.forEach((b, i) => out.push(`${name}_bucket{le="${b}"} ${this.counts[i]}`));
    out.push(`${name}_bucket{le="+Inf"} ${this.count}`, `${name}_sum ${this.sum}`, `${name}_count ${this.count}`);
    return out;
  }
}

export class Metrics implements RunObserver {
  readonly #requests = new Map<string, number>(); // `${endpoint} ${status}` -> count
  inFlight = 0;
  promptTokens = 0;
  completionTokens = 0;
  readonly #steps = new StepTotals(); // the steps of answered requests (for tree dedup)
  readonly ttft = new Histogram(LATENCY_BUCKETS);
  readonly itl = new Histogram(ITL_BUCKETS);
  readonly duration = new Histogram(LATENCY_BUCKETS);

  request(endpoint: string, status: number, seconds: number): void {
    const k = `${endpoint} ${status}`;
    this.#requests.set(k, (this.#requests.get(k) ?? 0) + 1);
    this.duration.observe(seconds);
  }

  usage(u: Usage): void {
    this.promptTokens += u.prompt_tokens;
    this.completionTokens += u.completion_tokens;
  }

  firstToken(ms: number): void {
    this.ttft.observe(ms / 1000);
  }

  step(s: StepStats, tokens: number, gapMs: number | null): void {
    this.#steps.add(s, tokens);
    if (tokens > 0 && gapMs !== null) this.itl.observe(gapMs / 1000 / tokens, tokens);
  }

  render(engine: EngineStats | null, pool: EnginePool | null = null): string {
    const out: string[] = [];
    const metric = (name: string, type: "counter" | "gauge", help: string, value: number | [string, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      if (typeof value === "number") out.push(`${name} ${value}`);
      else for (const [labels, v] of value) out.push(`${name}{${labels}} ${v}`);
    };
    metric("redrafter_requests_total", "counter", "HTTP requests answered, by endpoint and status",
      [...this.#requests].map(([k, v]) => {
        const [endpoint, status] = k.split(" ");
        return [`endpoint="${endpoint}",status="${status}"`, v] as [string, number];
      }));
    metric("redrafter_requests_in_flight", "gauge", "HTTP requests being answered now", this.inFlight);
    metric("redrafter_prompt_tokens_total", "counter", "prompt tokens of answered requests", this.promptTokens);
    metric("redrafter_completion_tokens_total", "counter", "completion tokens returned to clients", this.completionTokens);
    metric("redrafter_tree_dedup", "gauge", "mean of 1 - verified nodes / (B*L + 1) over drafting steps",
      this.#steps.dedup ?? 0);
    if (engine) {
      const e = engine;
      metric("redrafter_generations_total", "counter", "generations by outcome", [
        ["outcome=\"completed\"", e.requestsCompleted], ["outcome=\"cancelled\"", e.requestsCancelled],
        ["outcome=\"failed\"", e.requestsFailed], ["outcome=\"rejected\"", e.requestsRejected],
      ]);
      metric("redrafter_generated_tokens_total", "counter", "tokens the engine generated", e.tokensGenerated);
      metric("redrafter_prefill_tokens_total", "counter", "prompt tokens the engine decoded", e.promptTokens);
      metric("redrafter_steps_total", "counter", "decoding steps", e.steps);
      metric("redrafter_speculative_steps_total", "counter", "decoding steps that drafted", e.speculativeSteps);
      metric("redrafter_target_calls_total", "counter", "target decode calls during generation", e.targetCalls);
      metric("redrafter_drafted_tokens_total", "counter", "draft tokens proposed (drafter beams and context copy)", e.drafted);
      metric("redrafter_accepted_tokens_total", "counter", "draft tokens accepted", e.accepted);
      metric("redrafter_copy_accepted_tokens_total", "counter", "accepted tokens only the context copy proposed", e.copyAccepted);
      metric("redrafter_tree_nodes_total", "counter", "tree nodes verified", e.treeNodes);
      metric("redrafter_tau", "gauge", "mean accepted length: generated tokens / target calls",
        e.targetCalls > 0 ? e.tokensGenerated / e.targetCalls : 0);
      metric("redrafter_step_seconds_total", "counter", "engine time by phase", [
        ["phase=\"prefill\"", e.time.prefillMs / 1000], ["phase=\"draft\"", e.time.draftMs / 1000],
        ["phase=\"verify\"", e.time.verifyMs / 1000], ["phase=\"other\"", e.time.otherMs / 1000],
      ]);
      metric("redrafter_queue_depth", "gauge", "requests waiting for a slot", e.queueDepth);
      metric("redrafter_slots_busy", "gauge", "slots generating now", e.busySlots);
      metric("redrafter_slots", "gauge", "slots (parallel generations)", e.slots);
    }
    if (pool) {
      const per = (f: (m: PoolModel) => number) => pool.models.map((m): [string, number] => [`model="${m.id.replace(/["\\\n]/g, "_")}"`, f(m)]);
      metric("redrafter_model_loaded", "gauge", "1 while the model is loaded", per((m) => Number(m.state === "loaded")));
      metric("redrafter_model_loads_total", "counter", "times the model was loaded", per((m) => m.loads));
      metric("redrafter_model_load_failures_total", "counter", "loads of the model that failed", per((m) => m.loadFailures));
      metric("redrafter_model_evictions_total", "counter", "times the model was unloaded to make room for another", per((m) => m.evictions));
      metric("redrafter_model_requests", "gauge", "requests using the model now or waiting for its load", per((m) => m.leases));
      metric("redrafter_model_memory_estimate_bytes", "gauge", "memory the model is estimated to hold when loaded (0 until first loaded)", per((m) => m.bytes ?? 0));
      metric("redrafter_models_memory_used_bytes", "gauge", "estimates of the loaded models, summed", pool.usedBytes);
      metric("redrafter_models_memory_budget_bytes", "gauge", "--models-memory-mib, in bytes", pool.budgetBytes);
    }
    out.push(...this.ttft.render("redrafter_ttft_seconds", "time to first token"));
    out.push(...this.itl.render("redrafter_inter_token_latency_seconds", "time between generated tokens, per token"));
    out.push(...this.duration.render("redrafter_request_duration_seconds", "time to answer an HTTP request"));
    return out.join("\n") + "\n";
  }
}
