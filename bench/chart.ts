// An SVG chart of loss against offered rate, one line per relay and scenario. No dependencies:
// the file is written by hand, so it renders the same on GitHub and in a browser.
//
// Loss runs from 0 to tens of percent, so the y axis is logarithmic from 0.001% to 100%, with a
// row at the bottom for "0" (no packet lost). Points where the generator could not offer the rate
// are drawn hollow and placed at the rate it achieved.

export interface ChartPoint {
  offeredPps: number; // the rate achieved by the generator
  lossPct: number;
  endToEndPct?: number; // when it differs: loss counted at the sink including the sink's own drops
  hollow?: boolean; // generator-limited or sink-limited
}

export interface ChartSeries {
  name: string;
  color: string;
  dashed?: boolean;
  points: ChartPoint[];
}

const W = 760;
const H = 440;
const M = { left: 70, right: 180, top: 40, bottom: 60 };
const Y_MIN = -3; // log10 of 0.001%
const Y_MAX = 2; // log10 of 100%
const ZERO_GAP = 28; // px between the 0.001% line and the "0" row

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function niceStep(range: number): number {
  const raw = range / 6;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

export function renderChart(title: string, series: ChartSeries[], subtitle = ""): string {
  const all = series.flatMap((s) => s.points);
  const xMax = Math.max(100000, ...all.map((p) => p.offeredPps)) * 1.05;
  const xStep = niceStep(xMax);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom - ZERO_GAP;
  const x = (v: number) => M.left + (v / xMax) * pw;
  const y = (lossPct: number) => {
    if (lossPct <= 0) return M.top + ph + ZERO_GAP;
    const l = Math.min(Y_MAX, Math.max(Y_MIN, Math.log10(lossPct)));
    return M.top + ((Y_MAX - l) / (Y_MAX - Y_MIN)) * ph;
  };
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${M.left}" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`);
  if (subtitle) out.push(`<text x="${M.left}" y="35" font-size="11" fill="#555">${esc(subtitle)}</text>`);
  // grid and axes
  for (let e = Y_MIN; e <= Y_MAX; e++) {
    const yy = y(10 ** e);
    const label = e >= 0 ? `${10 ** e}%` : `${(10 ** e).toFixed(-e)}%`;
    out.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${yy + 4}" text-anchor="end">${label}</text>`);
  }
  const y0 = y(0);
  out.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${y0}" y2="${y0}" stroke="#bbb" stroke-dasharray="2,3"/>`);
  out.push(`<text x="${M.left - 6}" y="${y0 + 4}" text-anchor="end">0</text>`);
  const yLimit = y(0.1);
  out.push(
    `<line x1="${M.left}" x2="${M.left + pw}" y1="${yLimit}" y2="${yLimit}" stroke="#c00" stroke-dasharray="6,4"/>`,
  );
  out.push(
    `<text x="${M.left + pw - 4}" y="${yLimit - 4}" text-anchor="end" fill="#c00" font-size="11">0.1% loss</text>`,
  );
  for (let v = 0; v <= xMax; v += xStep) {
    const xx = x(v);
    out.push(`<line x1="${xx}" x2="${xx}" y1="${M.top}" y2="${y0}" stroke="#eee"/>`);
    out.push(`<text x="${xx}" y="${y0 + 18}" text-anchor="middle">${v >= 1e6 ? `${v / 1e6}M` : `${v / 1e3}k`}</text>`);
  }
  out.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${y0}" stroke="#333"/>`);
  out.push(
    `<text x="${M.left + pw / 2}" y="${H - 15}" text-anchor="middle">offered rate (packets/s, as the generator achieved it)</text>`,
  );
  out.push(
    `<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="11">loss (the sink's own socket drops excluded)</text>`,
  );
  // series
  series.forEach((s, i) => {
    const pts = [...s.points].sort((a, b) => a.offeredPps - b.offeredPps);
    if (pts.length > 1)
      out.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6,4"' : ""} points="${pts.map((p) => `${x(p.offeredPps).toFixed(1)},${y(p.lossPct).toFixed(1)}`).join(" ")}"/>`,
      );
    for (const p of pts)
      out.push(
        `<circle cx="${x(p.offeredPps).toFixed(1)}" cy="${y(p.lossPct).toFixed(1)}" r="4" fill="${p.hollow ? "white" : s.color}" stroke="${s.color}" stroke-width="1.5"><title>${esc(s.name)}: ${Math.round(p.offeredPps)} pps, ${p.lossPct.toPrecision(3)}% loss${p.endToEndPct !== undefined && p.endToEndPct !== p.lossPct ? ` (${p.endToEndPct.toPrecision(3)}% end to end, the rest in the sink's own socket)` : ""}${p.hollow ? " (generator- or sink-limited)" : ""}</title></circle>`,
      );
    const ly = M.top + 10 + i * 20;
    const lx = M.left + pw + 15;
    out.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6,4"' : ""}/>`,
    );
    out.push(`<circle cx="${lx + 12}" cy="${ly}" r="4" fill="${s.color}"/>`);
    out.push(`<text x="${lx + 30}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  const ly = M.top + 10 + series.length * 20 + 10;
  out.push(`<circle cx="${M.left + pw + 27}" cy="${ly}" r="4" fill="white" stroke="#555" stroke-width="1.5"/>`);
  out.push(`<text x="${M.left + pw + 45}" y="${ly + 4}" font-size="11">generator- or</text>`);
  out.push(`<text x="${M.left + pw + 45}" y="${ly + 18}" font-size="11">sink-limited</text>`);
  out.push("</svg>");
  return out.join("\n") + "\n";
}
