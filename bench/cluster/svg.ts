/** A minimal SVG line chart (no dependencies). */

export interface Series { name: string, color: string, dashed?: boolean, points: Array<[number, number]> }

export interface ChartSpec { title: string, xLabel: string, yLabel: string, series: Series[], xTicks?: number[], noMarkers?: boolean }

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function niceStep (range: number): number {
  const raw = range / 5
  const mag = 10 ** Math.floor(Math.log10(raw))
  return [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw) ?? raw
}

export function lineChart (c: ChartSpec): string {
  const W = 680; const H = 400; const L = 64; const R = 180; const T = 40; const B = 50
  const all = c.series.flatMap(s => s.points)
  const xMax = Math.max(1, ...all.map(p => p[0]))
  const yMax0 = Math.max(1e-9, ...all.map(p => p[1]))
  const step = niceStep(yMax0)
  const yMax = Math.ceil(yMax0 / step) * step
  const x = (v: number): number => L + v / xMax * (W - L - R)
  const y = (v: number): number => H - B - v / yMax * (H - T - B)
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="8" y="22" font-size="14">${esc(c.title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(c.xLabel)}</text>`,
    `<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">${esc(c.yLabel)}</text>`
  ]
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    out.push(`<line x1="${L}" y1="${y(v)}" x2="${W - R}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${+v.toFixed(3)}</text>`)
  }
  const xStep = niceStep(xMax)
  const ticks = c.xTicks ?? (c.noMarkers === true
    ? Array.from({ length: Math.floor(xMax / xStep) + 1 }, (_, i) => +(i * xStep).toFixed(3))
    : [...new Set(all.map(p => p[0]))].sort((a, b) => a - b))
  for (const t of ticks) out.push(`<text x="${x(t)}" y="${H - B + 16}" text-anchor="middle">${t}</text>`)
  c.series.forEach((s, i) => {
    const pts = [...s.points].sort((a, b) => a[0] - b[0])
    if (pts.length > 0) {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''} points="${pts.map(p => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')}"/>`)
      if (c.noMarkers !== true) for (const p of pts) out.push(`<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="3" fill="${s.color}"/>`)
    }
    if (s.name === '') return
    const ly = T + 10 + c.series.slice(0, i).filter(x => x.name !== '').length * 20
    out.push(`<line x1="${W - R + 12}" y1="${ly}" x2="${W - R + 36}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${W - R + 42}" y="${ly + 4}">${esc(s.name)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n')
}
