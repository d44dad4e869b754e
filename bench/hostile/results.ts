// results.ts - what bench/hostile.ts counts, per phase and per category: requests tried, the
// status histogram (or how an exchange ended without a status), requests per failure kind, and
// the failing requests themselves; a server death with the requests in flight and the ones that
// crashed a fresh server again on their own.
import type { Case } from "./cases.ts";
import type { FailureKind } from "./judge.ts";

export type Kind = FailureKind | "crash";
export const OTHER: Kind[] = ["stream", "no-answer", "expect"];

export interface Failure {
  category: string;
  kind: Kind;
  summary: string;
  detail: string;
}

export class Tally {
  tried = 0;
  readonly statuses = new Map<string, number>();
  readonly counts = new Map<Kind, number>();

  count(k: Kind): number {
    return this.counts.get(k) ?? 0;
  }

  bump(k: Kind, by = 1): void {
    this.counts.set(k, this.count(k) + by);
  }

  other(): number {
    return OTHER.reduce((a, k) => a + this.count(k), 0);
  }
}

export interface Death {
  phase: string;
  reason: string; // signal, exit code, or why the bench killed it
  suspects: Case[]; // in flight when it died
  culprits: { c: Case; reason: string; log: string }[]; // suspects that killed the restarted server alone
  log: string; // the lines of its output that say why (crashExcerpt)
}

export class PhaseResult {
  readonly total = new Tally();
  readonly categories = new Map<string, Tally>();
  readonly failures: Failure[] = [];
  readonly notes: string[] = [];
  skipped: string | null = null;

  constructor(readonly name: string) {}

  #tally(category: string): Tally {
    let t = this.categories.get(category);
    if (!t) this.categories.set(category, (t = new Tally()));
    return t;
  }

  /** One request (or process run): its status key and what was wrong with it. */
  record(category: string, key: string, findings: { kind: Kind; detail: string }[], summary: string): void {
    for (const t of [this.total, this.#tally(category)]) {
      t.tried++;
      t.statuses.set(key, (t.statuses.get(key) ?? 0) + 1);
      for (const k of new Set(findings.map((f) => f.kind))) t.bump(k);
    }
    for (const f of findings) if (this.failures.length < 5000) this.failures.push({ category, summary, ...f });
  }

  /** Crashes: one per death; the category of each request that crashed a fresh server alone. */
  attribute(deaths: Death[]): void {
    this.total.bump("crash", deaths.length);
    for (const d of deaths) {
      for (const { c, reason, log } of d.culprits) {
        this.#tally(c.category).bump("crash");
        this.failures.push({ category: c.category, kind: "crash", summary: c.summary, detail: `${reason}, also when replayed alone on a fresh server${log ? `: ${log}` : ""}` });
      }
      if (d.culprits.length === 0) {
        const s = d.suspects.slice(0, 3).map((c) => `[${c.category}] ${c.summary}`).join("; ");
        this.failures.push({ category: "(unattributed)", kind: "crash", summary: `${d.suspects.length} in flight: ${s}`, detail: `${d.reason}${d.log ? `: ${d.log}` : ""}` });
      }
    }
  }
}
