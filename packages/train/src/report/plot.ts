// The loss curve as an SVG line chart (log-scaled y when the loss spans more than a decade), and as a
// PNG rendered from it by sharp.
export interface Series {
  name: string;
  points: [number, number][];
  color: string;
}

const W = 720;
const H = 400;
const M = { left: 70, right: 20, top: 30, bottom: 45 };

export function lineChartSvg(title: string, xLabel: string, yLabel: string, series: Series[]): string {
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs, 0), Math.max(...xs, 1)];
  const positive = ys.every((y) => y > 0);
  const logY = positive && ys.length > 0 && Math.max(...ys) / Math.min(...ys) > 10;
  const f = (y: number) => (logY ? Math.log10(y) : y);
  const [y0, y1] = ys.length ? [Math.min(...ys.map(f)), Math.max(...ys.map(f))] : [0, 1];
  const span = y1 - y0 || 1;
  const px = (x: number) => M.left + ((x - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - ((f(y) - y0) / span) * (H - M.top - M.bottom);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => y0 + t * span);
  const tickText = (v: number) => (logY ? 10 ** v : v).toPrecision(3);
  const paths = series.map((s) => {
    const d = s.points.filter(([, y]) => Number.isFinite(y)).map(([x, y], i) => `${i ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join('');
    return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`;
  });
  const legend = series.map((s, i) => `<text x="${W - M.right - 150}" y="${M.top + 16 * (i + 1)}" fill="${s.color}" font-size="13">${escape(s.name)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="20" text-anchor="middle" font-size="15">${escape(title)}</text>
<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="black"/>
<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="black"/>
${ticks.map((t) => `<text x="${M.left - 6}" y="${H - M.bottom - ((t - y0) / span) * (H - M.top - M.bottom) + 4}" text-anchor="end" font-size="11">${tickText(t)}</text>`).join('\n')}
<text x="${M.left}" y="${H - M.bottom + 16}" font-size="11">${x0}</text>
<text x="${W - M.right}" y="${H - M.bottom + 16}" text-anchor="end" font-size="11">${x1}</text>
<text x="${W / 2}" y="${H - 10}" text-anchor="middle" font-size="13">${escape(xLabel)}</text>
<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle" font-size="13">${escape(yLabel)}${logY ? ' (log)' : ''}</text>
${paths.join('\n')}
${legend.join('\n')}
</svg>`;
}

export function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
