/**
 * A grouped bar chart as a standalone SVG, written by hand (no dependency):
 * panels in a grid, each with a y axis from 0 with round ticks, grid lines,
 * groups of bars (one bar per series, same colour in every panel), min-max
 * whiskers, the value above each bar, group labels under the axis, and one
 * legend for the whole figure under its title.
 */

export interface ChartBar {
  series: string;
  value: number;
  /** whisker (e.g. the slowest and fastest repetition) */
  lo?: number;
  hi?: number;
}

export interface ChartGroup {
  /** "\n" splits it over lines */
  label: string;
  bars: ChartBar[];
}

export interface ChartPanel {
  title: string;
  yLabel: string;
  groups: ChartGroup[];
}

export interface ChartSpec {
  title: string;
  subtitle?: string;
  /** series in legend order (bars are drawn in this order within a group) */
  series: string[];
  panels: ChartPanel[];
  /** panels per row (default 2) */
  columns?: number;
  footnote?: string;
}

const PALETTE = ["#2563eb", "#f59e0b", "#b91c1c", "#16a34a", "#7c3aed", "#0891b2", "#db2777", "#525252", "#65a30d", "#ea580c"];

export function seriesColor(i: number): string {
  return PALETTE[i % PALETTE.length]!;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

/** Round tick step for an axis reaching `max` with about `n` ticks: 1, 2, 2.5 or 5 times a power of ten. */
export function niceStep(max: number, n = 5): number {
  if (!(max > 0) || !Number.isFinite(max)) return 1;
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** Compact value label: 3 significant digits below 100, integers above. */
export function fmtValue(v: number): string {
  if (!Number.isFinite(v)) return "-";
  const a = Math.abs(v);
  if (a >= 100) return Math.round(v).toString();
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

/** Axis tick: the step's own digits (75, 2.5, 0.2), no float noise. */
export function fmtTick(v: number): string {
  return String(Number(v.toPrecision(10)));
}

const n = (x: number) => (Math.round(x * 10) / 10).toString();

const BAR_W = 26;
const BAR_GAP = 3;
const GROUP_GAP = 22;
const PANEL_H = 300;
const PLOT_TOP = 34;
const PLOT_BOTTOM = 56;
const PLOT_LEFT = 64;
const PLOT_RIGHT = 16;

function panelWidth(p: ChartPanel, seriesCount: number): number {
  const groupW = seriesCount * (BAR_W + BAR_GAP) - BAR_GAP;
  return PLOT_LEFT + PLOT_RIGHT + Math.max(1, p.groups.length) * (groupW + GROUP_GAP) + GROUP_GAP;
}

function renderPanel(p: ChartPanel, series: string[], x0: number, y0: number, width: number): string[] {
  const out: string[] = [];
  const plotW = width - PLOT_LEFT - PLOT_RIGHT;
  const plotH = PANEL_H - PLOT_TOP - PLOT_BOTTOM;
  const top = y0 + PLOT_TOP, left = x0 + PLOT_LEFT, bottom = top + plotH;
  const vmax = Math.max(0, ...p.groups.flatMap((g) => g.bars.flatMap((b) => [b.value, b.hi ?? 0].filter(Number.isFinite))));
  const step = niceStep(vmax * 1.12);
  const ymax = Math.max(step, Math.ceil((vmax * 1.12) / step) * step);
  const y = (v: number) => bottom - (Math.max(0, v) / ymax) * plotH;
  out.push(`<g class="panel">`);
  out.push(`<text class="panel-title" x="${n(x0 + width / 2)}" y="${n(y0 + 18)}" text-anchor="middle">${escapeXml(p.title)}</text>`);
  for (let v = 0; v <= ymax + step / 1e6; v += step) {
    out.push(`<line class="grid" x1="${n(left)}" x2="${n(left + plotW)}" y1="${n(y(v))}" y2="${n(y(v))}"/>`);
    out.push(`<text class="tick" x="${n(left - 6)}" y="${n(y(v) + 4)}" text-anchor="end">${fmtTick(v)}</text>`);
  }
  out.push(`<line class="axis" x1="${n(left)}" x2="${n(left)}" y1="${n(top)}" y2="${n(bottom)}"/>`);
  out.push(`<line class="axis" x1="${n(left)}" x2="${n(left + plotW)}" y1="${n(bottom)}" y2="${n(bottom)}"/>`);
  out.push(`<text class="axis-label" transform="translate(${n(x0 + 16)} ${n(top + plotH / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(p.yLabel)}</text>`);
  const groupW = series.length * (BAR_W + BAR_GAP) - BAR_GAP;
  p.groups.forEach((g, gi) => {
    const gx = left + GROUP_GAP + gi * (groupW + GROUP_GAP);
    series.forEach((s, si) => {
      const b = g.bars.find((x) => x.series === s);
      if (!b || !Number.isFinite(b.value)) return;
      const bx = gx + si * (BAR_W + BAR_GAP);
      const by = y(b.value);
      out.push(`<rect class="bar" data-series="${escapeXml(s)}" data-group="${escapeXml(g.label.replace(/\n/g, " "))}" data-value="${b.value}" x="${n(bx)}" y="${n(by)}" width="${BAR_W}" height="${n(bottom - by)}" fill="${seriesColor(si)}"><title>${escapeXml(`${s}, ${g.label.replace(/\n/g, " ")}: ${fmtValue(b.value)}`)}</title></rect>`);
      let labelY = by - 4;
      if (b.lo !== undefined && b.hi !== undefined && Number.isFinite(b.lo) && Number.isFinite(b.hi)) {
        const cx = bx + BAR_W / 2;
        out.push(`<path class="whisker" d="M${n(cx)} ${n(y(b.lo))}V${n(y(b.hi))}M${n(cx - 4)} ${n(y(b.lo))}h8M${n(cx - 4)} ${n(y(b.hi))}h8"/>`);
        labelY = Math.min(labelY, y(b.hi) - 4);
      }
      out.push(`<text class="value" x="${n(bx + BAR_W / 2)}" y="${n(labelY)}" text-anchor="middle">${fmtValue(b.value)}</text>`);
    });
    g.label.split("\n").forEach((line, li) => {
      out.push(`<text class="group" x="${n(gx + groupW / 2)}" y="${n(bottom + 16 + li * 14)}" text-anchor="middle">${escapeXml(line)}</text>`);
    });
  });
  out.push(`</g>`);
  return out;
}

/** The whole figure as an SVG document. */
export function renderChart(spec: ChartSpec): string {
  const cols = Math.max(1, Math.min(spec.columns ?? 2, spec.panels.length));
  const pw = Math.max(320, ...spec.panels.map((p) => panelWidth(p, spec.series.length)));
  const headH = 58 + (spec.subtitle ? 18 : 0) + 24;
  const rows = Math.ceil(spec.panels.length / cols);
  const width = cols * pw + 20;
  const footH = spec.footnote ? 28 : 8;
  const height = headH + rows * PANEL_H + footH;
  const out: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<style>.title{font-size:18px;font-weight:bold;fill:#111}.subtitle{font-size:12px;fill:#444}.panel-title{font-size:14px;font-weight:bold;fill:#222}` +
      `.tick,.group{font-size:11px;fill:#333}.axis-label{font-size:12px;fill:#333}.value{font-size:10px;fill:#111}.legend{font-size:12px;fill:#222}` +
      `.footnote{font-size:11px;fill:#555}.grid{stroke:#e5e5e5}.axis{stroke:#333}.whisker{stroke:#111;stroke-width:1;fill:none}</style>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text class="title" x="${n(width / 2)}" y="26" text-anchor="middle">${escapeXml(spec.title)}</text>`,
  ];
  if (spec.subtitle) out.push(`<text class="subtitle" x="${n(width / 2)}" y="46" text-anchor="middle">${escapeXml(spec.subtitle)}</text>`);
  // legend, centred under the titles
  const items = spec.series.map((s) => ({ s, w: 22 + s.length * 6.6 + 18 }));
  let lx = width / 2 - items.reduce((a, b) => a + b.w, 0) / 2;
  const ly = headH - 22;
  out.push(`<g class="legend-box">`);
  items.forEach(({ s, w }, i) => {
    out.push(`<rect class="legend-swatch" x="${n(lx)}" y="${n(ly - 10)}" width="14" height="14" fill="${seriesColor(i)}"/>`);
    out.push(`<text class="legend" x="${n(lx + 20)}" y="${n(ly + 2)}">${escapeXml(s)}</text>`);
    lx += w;
  });
  out.push(`</g>`);
  spec.panels.forEach((p, i) => {
    const x0 = 10 + (i % cols) * pw;
    const y0 = headH + Math.floor(i / cols) * PANEL_H;
    out.push(...renderPanel(p, spec.series, x0, y0, pw));
  });
  if (spec.footnote) out.push(`<text class="footnote" x="10" y="${n(height - 10)}">${escapeXml(spec.footnote)}</text>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
