/**
 * The SVG chart of a made-up report: a well-formed document with the title
 * (machine, date), the legend, one bar per engine and configuration carrying
 * the right tokens/s, min-max whiskers, values on the bars and axis labels.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { coreChart, rateBar, vsChart } from "../src/bench/plot-data.js";
import { escapeXml, fmtTick, fmtValue, niceStep, renderChart } from "../src/bench/plot.js";
import { summarize } from "../src/bench/stats.js";
import { ENGINES, fakeCoreReport, fakeVsReport } from "./helpers/bench-reports.js";
import { parseXml } from "./helpers/xml.js";

test("vs chart: well-formed SVG, title with machine and date, legend, 12 bars with the report's tok/s", () => {
  const svg = renderChart(vsChart(fakeVsReport(), { preliminary: true }));
  const els = parseXml(svg);
  assert.equal(els[0]!.name, "svg");
  assert.equal(els[0]!.attrs.xmlns, "http://www.w3.org/2000/svg");
  const texts = els.filter((e) => e.name === "text").map((e) => e.text);
  const title = els.find((e) => e.attrs.class === "title")!.text;
  assert.match(title, /lowbit vs llama\.cpp.*2 cores \(avx2\).*2026-11-22.*preliminary/);
  assert.deepEqual(els.filter((e) => e.attrs.class === "legend").map((e) => e.text), ENGINES);
  assert.ok(texts.includes("prompt tokens/s (pp)") && texts.includes("generated tokens/s (tg)"));
  assert.ok(texts.includes("tinycode-100m: prompt processing") && texts.includes("tinycode-100m: generation"));
  assert.equal(texts.filter((t) => t === "q4_0").length, 2); // group labels in both panels
  assert.equal(texts.filter((t) => t === "prompt 32").length, 4);
  const bars = els.filter((e) => e.name === "rect" && e.attrs.class === "bar");
  assert.equal(bars.length, 12); // 2 panels x 2 types x 3 engines
  const bar = (series: string, group: string, i: number) => bars.filter((b) => b.attrs["data-series"] === series && b.attrs["data-group"] === group)[i]!;
  // pp of lowbit q4_0: 32 tokens / 16 ms = 2000 tok/s; tg of llama.cpp q8_0: 1000 / 6 ms
  assert.equal(Number(bar("lowbit", "q4_0 prompt 32", 0).attrs["data-value"]), 2000);
  assert.ok(Math.abs(Number(bar("llama.cpp", "q8_0 prompt 32", 1).attrs["data-value"]) - 1000 / 6) < 1e-9);
  // values on the bars, and one whisker per bar
  assert.ok(texts.includes("2000") && texts.includes("167"), texts.join("|"));
  assert.equal(els.filter((e) => e.attrs.class === "whisker").length, 12);
  // bars of one series share a colour; series differ
  const fills = ENGINES.map((s) => new Set(bars.filter((b) => b.attrs["data-series"] === s).map((b) => b.attrs.fill)));
  assert.ok(fills.every((f) => f.size === 1));
  assert.equal(new Set(fills.map((f) => [...f][0])).size, 3);
  // taller bar for the faster engine (pp, q4_0): lowbit 2000 > UV=1 1600 > llama.cpp 1000
  const h = (s: string) => Number(bar(s, "q4_0 prompt 32", 0).attrs.height);
  assert.ok(h("lowbit") > h(ENGINES[2]!) && h(ENGINES[2]!) > h("llama.cpp"));
  assert.ok(Math.abs(h("lowbit") / h("llama.cpp") - 2) < 0.01);
});

test("formats chart: one series per format, humaneval group label", () => {
  const els = parseXml(renderChart(coreChart(fakeCoreReport())));
  assert.deepEqual(els.filter((e) => e.attrs.class === "legend").map((e) => e.text), ["bf16", "w8a8"]);
  assert.ok(els.some((e) => e.attrs.class === "group" && e.text === "humaneval (3)"));
  const bars = els.filter((e) => e.attrs.class === "bar");
  assert.equal(bars.length, 4);
  assert.equal(Number(bars.find((b) => b.attrs["data-series"] === "w8a8")!.attrs["data-value"]), (100 / 5.5) * 1000);
});

test("text is escaped: odd series and titles keep the document well-formed", () => {
  const svg = renderChart({ title: 'a <b> & "c"', series: ["x&y", "<z>"], panels: [{ title: "p'1", yLabel: "y", groups: [{ label: "g<1>\nline 2", bars: [{ series: "x&y", value: 3 }, { series: "<z>", value: NaN }] }] }] });
  const els = parseXml(svg);
  assert.equal(els.find((e) => e.attrs.class === "title")!.text, 'a <b> & "c"');
  assert.deepEqual(els.filter((e) => e.attrs.class === "group").map((e) => e.text), ["g<1>", "line 2"]);
  assert.equal(els.filter((e) => e.attrs.class === "bar").length, 1); // NaN values draw no bar
  assert.equal(escapeXml(`<&>"'`), "&lt;&amp;&gt;&quot;&apos;");
});

test("axis steps, value labels and rate whiskers", () => {
  assert.deepEqual([niceStep(1513), niceStep(100), niceStep(7), niceStep(0.9), niceStep(0)], [500, 20, 2, 0.2, 1]);
  assert.deepEqual([fmtValue(1351.4), fmtValue(48.26), fmtValue(7.4), fmtValue(0.523), fmtValue(NaN)], ["1351", "48.3", "7.40", "0.52", "-"]);
  assert.deepEqual([fmtTick(75), fmtTick(0.1 + 0.2), fmtTick(2.5), fmtTick(3 * 0.2)], ["75", "0.3", "2.5", "0.6"]);
  // tok/s at the median time; the slowest repetition gives the low whisker
  assert.deepEqual(rateBar("s", 512, summarize([256, 512, 1024])), { series: "s", value: 1000, lo: 500, hi: 2000 });
});
