/**
 * A small line-chart writer (no chart library): axes with round ticks,
 * linear or log2 x, one polyline per series with markers, a legend.
 */
export interface Series {
  name: string
  points: Array<[number, number]>
  color: string
  dashed?: boolean
  markers?: boolean
}

export interface ChartSpec {
  title: string
  xLabel: string
  yLabel: string
  series: Series[]
  logX?: boolean
  /** Label x ticks with this instead of the number. */
  xTickFormat?: (x: number) => string
  xTicks?: number[]
  yMin?: number
  width?: number
  height?: number
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export function niceTicks (lo: number, hi: number, count = 6): number[] {
  if (hi <= lo) hi = lo + 1
  const raw = (hi - lo) / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw) ?? 10 * mag
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step)
  return out
}

export function lineChart (spec: ChartSpec): string {
  const W = spec.width ?? 760
  const H = spec.height ?? 440
  const m = { l: 70, r: 20, t: 40, b: 95 }
  const pw = W - m.l - m.r
  const ph = H - m.t - m.b
  const all = spec.series.flatMap(s => s.points)
  const fx = (x: number): number => spec.logX === true ? Math.log2(x) : x
  const xs = all.map(p => fx(p[0]))
  let x0 = Math.min(...xs)
  let x1 = Math.max(...xs)
  if (x0 === x1) { x0 -= 1; x1 += 1 }
  const yTop = Math.max(...all.map(p => p[1]))
  const yTicks = niceTicks(spec.yMin ?? 0, yTop * 1.05)
  if (yTicks.length > 1 && yTicks[yTicks.length - 1] < yTop) yTicks.push(yTicks[yTicks.length - 1] + (yTicks[1] - yTicks[0]))
  const y0 = spec.yMin ?? 0
  const y1 = yTicks[yTicks.length - 1]
  const X = (x: number): number => m.l + (fx(x) - x0) / (x1 - x0) * pw
  const Y = (y: number): number => m.t + ph - (y - y0) / (y1 - y0) * ph
  const o: string[] = []
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`)
  o.push(`<rect width="${W}" height="${H}" fill="white"/>`)
  o.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(spec.title)}</text>`)
  for (const t of yTicks) {
    o.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${Y(t).toFixed(1)}" y2="${Y(t).toFixed(1)}" stroke="#e4e4e4"/>`)
    o.push(`<text x="${m.l - 6}" y="${(Y(t) + 4).toFixed(1)}" text-anchor="end">${t}</text>`)
  }
  const xTicks = spec.xTicks ?? (spec.logX === true ? [...new Set(all.map(p => p[0]))].sort((a, b) => a - b) : niceTicks(x0, x1))
  for (const t of xTicks) {
    o.push(`<line x1="${X(t).toFixed(1)}" x2="${X(t).toFixed(1)}" y1="${m.t}" y2="${m.t + ph}" stroke="#f0f0f0"/>`)
    o.push(`<text x="${X(t).toFixed(1)}" y="${m.t + ph + 16}" text-anchor="middle">${esc(spec.xTickFormat?.(t) ?? String(t))}</text>`)
  }
  o.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`)
  o.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + 36}" text-anchor="middle">${esc(spec.xLabel)}</text>`)
  o.push(`<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`)
  for (const s of spec.series) {
    const pts = [...s.points].sort((a, b) => a[0] - b[0])
    const d = pts.map(p => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(' ')
    o.push(`<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`)
    if (s.markers !== false) for (const p of pts) o.push(`<circle cx="${X(p[0]).toFixed(1)}" cy="${Y(p[1]).toFixed(1)}" r="3" fill="${s.color}"/>`)
  }
  spec.series.forEach((s, i) => {
    const lx = m.l + (i % 3) * (pw / 3)
    const ly = H - 32 + Math.floor(i / 3) * 16
    o.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`)
    o.push(`<text x="${lx + 30}" y="${ly}">${esc(s.name)}</text>`)
  })
  o.push('</svg>')
  return o.join('\n') + '\n'
}
