// The loss curve as an SVG line chart (log-scaled y when the loss spans more than a decade), with the
// validation score on a right-hand axis when there is one, and as a PNG rendered from it by sharp.
export interface Series {
  name: string;
  points: [number, number][];
  color: string;
}

const W = 720;
const H = 400;
const M = { left: 70, right: 20, top: 30, bottom: 45 };

/** A y axis over `ys`: log-scaled when every value is positive and they span more than a decade (if allowed). */
function yAxis(ys: number[], allowLog: boolean) {
  const logY = allowLog && ys.length > 0 && ys.every((y) => y > 0) && Math.max(...ys) / Math.min(...ys) > 10;
  const f = (y: number) => (logY ? Math.log10(y) : y);
  const [y0, y1] = ys.length ? [Math.min(...ys.map(f)), Math.max(...ys.map(f))] : [0, 1];
  const span = y1 - y0 || 1;
  /** The pixel row of an axis value (log10 of the value on a log axis). */
  const at = (v: number) => H - M.bottom - ((v - y0) / span) * (H - M.top - M.bottom);
  return {
    logY,
    ticks: [0, 0.25, 0.5, 0.75, 1].map((t) => y0 + t * span),
    at,
    py: (y: number) => at(f(y)),
    text: (v: number) => (logY ? 10 ** v : v).toPrecision(3),
  };
}

const finite = (s: Series) => s.points.filter(([, y]) => Number.isFinite(y));

/**
 * A line chart of `series` against the left axis (log-scaled when the values span more than a decade)
 * and, when given, of `right.series` against a linear right axis of its own (e.g. validation AP beside
 * the loss).
 */
export function lineChartSvg(title: string, xLabel: string, yLabel: string, series: Series[], right?: { label: string; series: Series[] }): string {
  const margin = { ...M, right: right ? 70 : M.right };
  const all = [...series, ...(right?.series ?? [])].flatMap(finite);
  const xs = all.map(([x]) => x);
  const [x0, x1] = [Math.min(...xs, 0), Math.max(...xs, 1)];
  const px = (x: number) => margin.left + ((x - x0) / (x1 - x0 || 1)) * (W - margin.left - margin.right);
  const left = yAxis(series.flatMap(finite).map(([, y]) => y), true);
  const second = right ? yAxis(right.series.flatMap(finite).map(([, y]) => y), false) : null;
  const path = (s: Series, axis: ReturnType<typeof yAxis>, dash: string) => {
    const d = finite(s).map(([x, y], i) => `${i ? 'L' : 'M'}${px(x).toFixed(1)},${axis.py(y).toFixed(1)}`).join('');
    const dots = finite(s).length === 1 ? `<circle cx="${px(finite(s)[0]![0]).toFixed(1)}" cy="${axis.py(finite(s)[0]![1]).toFixed(1)}" r="3" fill="${s.color}"/>` : '';
    return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>${dots}`;
  };
  const paths = [...series.map((s) => path(s, left, '')), ...(right && second ? right.series.map((s) => path(s, second, ' stroke-dasharray="6 3"')) : [])];
  const legend = [...series, ...(right?.series ?? [])].map((s, i) => `<text x="${W - margin.right - 150}" y="${M.top + 16 * (i + 1)}" fill="${s.color}" font-size="13">${escape(s.name)}</text>`);
  const rightAxis =
    right && second
      ? [
          `<line x1="${W - margin.right}" y1="${M.top}" x2="${W - margin.right}" y2="${H - M.bottom}" stroke="black"/>`,
          ...second.ticks.map((t) => `<text x="${W - margin.right + 6}" y="${second.at(t) + 4}" font-size="11">${second.text(t)}</text>`),
          `<text x="${W - 14}" y="${H / 2}" transform="rotate(90 ${W - 14} ${H / 2})" text-anchor="middle" font-size="13">${escape(right.label)}</text>`,
        ].join('\n')
      : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="20" text-anchor="middle" font-size="15">${escape(title)}</text>
<line x1="${margin.left}" y1="${H - M.bottom}" x2="${W - margin.right}" y2="${H - M.bottom}" stroke="black"/>
<line x1="${margin.left}" y1="${M.top}" x2="${margin.left}" y2="${H - M.bottom}" stroke="black"/>
${left.ticks.map((t) => `<text x="${margin.left - 6}" y="${left.at(t) + 4}" text-anchor="end" font-size="11">${left.text(t)}</text>`).join('\n')}
${rightAxis}
<text x="${margin.left}" y="${H - M.bottom + 16}" font-size="11">${x0}</text>
<text x="${W - margin.right}" y="${H - M.bottom + 16}" text-anchor="end" font-size="11">${x1}</text>
<text x="${W / 2}" y="${H - 10}" text-anchor="middle" font-size="13">${escape(xLabel)}</text>
<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle" font-size="13">${escape(yLabel)}${left.logY ? ' (log)' : ''}</text>
${paths.join('\n')}
${legend.join('\n')}
</svg>`;
}

export function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
