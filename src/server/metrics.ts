/**
 * The server's Prometheus metrics (GET /metrics, text exposition format 0.0.4):
 *
 *   lowbit_requests_total{path,status}      requests answered, by route and HTTP status
 *   lowbit_prompt_tokens_total              prompt tokens of the generations
 *   lowbit_completion_tokens_total          tokens generated
 *   lowbit_queue_depth                      generations waiting for or running on the model
 *   lowbit_ttft_seconds                     histogram: time to first token (prefill; queue time excluded)
 *   lowbit_tpot_seconds                     histogram: time per output token after the first
 *   lowbit_slots{state}                     KV slots for concurrent requests (--parallel): "total" and "busy"
 *
 * Tokens per second are rate(lowbit_completion_tokens_total[1m]) in Prometheus.
 */

/** Bucket upper bounds in seconds (Prometheus' default-like, down to a millisecond). */
export const TTFT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export const TPOT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(x: number): void {
    if (!Number.isFinite(x)) return;
    this.sum += x;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (x <= this.buckets[i]!) this.counts[i]!++;
  }

  lines(name: string): string[] {
    return [
      ...this.buckets.map((b, i) => `${name}_bucket{le="${b}"} ${this.counts[i]}`),
      `${name}_bucket{le="+Inf"} ${this.count}`,
      `${name}_sum ${this.sum}`,
      `${name}_count ${this.count}`,
    ];
  }
}

const label = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export class Metrics {
  private readonly requests = new Map<string, number>();
  promptTokens = 0;
  completionTokens = 0;
  queueDepth = 0;
  readonly ttft = new Histogram(TTFT_BUCKETS);
  readonly tpot = new Histogram(TPOT_BUCKETS);

  request(path: string, status: number): void {
    const k = `path="${label(path)}",status="${status}"`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  /** A finished generation: its tokens and timings (ms). */
  generation(promptTokens: number, completionTokens: number, ttftMs: number, tpotMs: number): void {
    this.promptTokens += promptTokens;
    this.completionTokens += completionTokens;
    this.ttft.observe(ttftMs / 1000);
    this.tpot.observe(tpotMs / 1000);
  }

  /** `slots`: the model's KV slots for concurrent requests, and how many are running one now. */
  render(slots?: { total: number; busy: number }): string {
    return [
      "# HELP lowbit_requests_total Requests answered, by route and HTTP status.",
      "# TYPE lowbit_requests_total counter",
      ...[...this.requests].map(([k, n]) => `lowbit_requests_total{${k}} ${n}`),
      "# HELP lowbit_prompt_tokens_total Prompt tokens of the generations.",
      "# TYPE lowbit_prompt_tokens_total counter",
      `lowbit_prompt_tokens_total ${this.promptTokens}`,
      "# HELP lowbit_completion_tokens_total Tokens generated.",
      "# TYPE lowbit_completion_tokens_total counter",
      `lowbit_completion_tokens_total ${this.completionTokens}`,
      "# HELP lowbit_queue_depth Generations waiting for or running on the model.",
      "# TYPE lowbit_queue_depth gauge",
      `lowbit_queue_depth ${this.queueDepth}`,
      "# HELP lowbit_ttft_seconds Time to first token (prefill), queue time excluded.",
      "# TYPE lowbit_ttft_seconds histogram",
      ...this.ttft.lines("lowbit_ttft_seconds"),
      "# HELP lowbit_tpot_seconds Time per output token after the first.",
      "# TYPE lowbit_tpot_seconds histogram",
      ...this.tpot.lines("lowbit_tpot_seconds"),
      ...(slots
        ? [
            "# HELP lowbit_slots KV slots for concurrent requests (--parallel), in all and running a request.",
            "# TYPE lowbit_slots gauge",
            `lowbit_slots{state="total"} ${slots.total}`,
            `lowbit_slots{state="busy"} ${slots.busy}`,
          ]
        : []),
    ].join("\n") + "\n";
  }
}
