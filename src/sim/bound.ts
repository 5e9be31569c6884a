/**
 * The reference bound from PAPER.md (Kumar and Ross, 2006): no scheme can
 * deliver S bytes from a source with upload u_s to N hosts with downloads d_i
 * and uploads u_i before
 *
 *   T_min = max( S / u_s,  S / min(d_i),  N * S / (u_s + sum(u_i)) )
 *
 * Rates in bytes per second, result in seconds.
 */
export interface BoundInput {
  imageBytes: number
  sourceUpload: number
  hostDownloads: ArrayLike<number>
  hostUploads: ArrayLike<number>
}

export function tMin ({ imageBytes, sourceUpload, hostDownloads, hostUploads }: BoundInput): number {
  const n = hostDownloads.length
  if (n === 0) return 0
  if (hostUploads.length !== n) throw new RangeError('hostDownloads and hostUploads must have one entry per host')
  let minD = Infinity
  let sumU = 0
  for (let i = 0; i < n; i++) {
    minD = Math.min(minD, hostDownloads[i])
    sumU += hostUploads[i]
  }
  return Math.max(imageBytes / sourceUpload, imageBytes / minD, n * imageBytes / (sourceUpload + sumU))
}
