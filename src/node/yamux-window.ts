/**
 * yamux flow control with fewer WINDOW_UPDATE frames.
 *
 * @chainsafe/libp2p-yamux 8 answers every data frame it receives with a
 * WINDOW_UPDATE, however small the frame. A swarm link carries HAVEs,
 * REQUESTs and chunk headers as frames of their own, so about every other
 * frame on the wire was an update, each an encrypted record, a syscall and a
 * wake-up for a peer that often had nothing else to read. The yamux spec
 * leaves it to the receiver when to grant credit; as the Go implementation
 * does, we grant it once half the window is used, or at once when the frame
 * carries a flag (SYN or ACK: opening the stream). The window still grows as
 * the library grows it, and a sender blocked on credit has by definition sent
 * the whole window, so its last frame always brings the update.
 *
 * The library has no option for this, so its stream's method is replaced,
 * once per process, and only where the stream has exactly the fields this
 * code reads (@chainsafe/libp2p-yamux 8.x). `installed` says whether it took;
 * test/yamux-window.test.ts fails if a dependency update stops it taking.
 */
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'

/** Frame type 0x1 in the yamux spec (https://github.com/hashicorp/yamux/blob/master/spec.md). */
const WINDOW_UPDATE = 1

/** The fields of a YamuxStream that granting credit reads and writes. */
export interface WindowState {
  state: StreamState
  streamId: number
  /** Bytes the peer may have outstanding; grows up to maxStreamWindowSize. */
  recvWindow: number
  /** Bytes the peer may still send before it needs more credit. */
  recvWindowCapacity: number
  maxStreamWindowSize: number
  epochStart: number
  getRTT: () => number
  getSendFlags: () => number
  sendFrame: (header: { type: number, flag: number, streamID: number, length: number }) => boolean
}

/** Grant the peer credit for what it has sent, once half the window is used up. */
export function sendWindowUpdate (this: WindowState): void {
  if (this.state === StreamState.Paused) {
    // The library's rule: a paused stream grants nothing, and restarts its epoch.
    this.epochStart = Date.now()
    return
  }
  const flags = this.getSendFlags()
  const now = Date.now()
  const rtt = this.getRTT()
  // The library's growth rule: the window doubles while the data keeps coming within four round trips.
  if (flags === 0 && rtt > -1 && now - this.epochStart <= rtt * 4) {
    this.recvWindow = Math.min(this.recvWindow * 2, this.maxStreamWindowSize)
  }
  const delta = this.recvWindow - this.recvWindowCapacity
  if (flags === 0 && delta < this.recvWindow / 2) return
  this.recvWindowCapacity = this.recvWindow
  this.epochStart = now
  this.sendFrame({ type: WINDOW_UPDATE, flag: flags, streamID: this.streamId, length: delta })
}

let installed = false

/** Replace YamuxStream's credit rule with ours, once; false if the library no longer looks as expected. */
export function installWindowUpdates (): boolean {
  if (installed) return true
  const proto = YamuxStream.prototype as unknown as Record<string, unknown>
  if (typeof proto.sendWindowUpdate !== 'function' || typeof proto.getSendFlags !== 'function') return false
  proto.sendWindowUpdate = sendWindowUpdate
  installed = true
  return true
}

/** Whether a stream's fields are the ones sendWindowUpdate uses (checked on a live stream in the tests). */
export function hasWindowState (stream: object): boolean {
  const s = stream as Partial<Record<keyof WindowState, unknown>>
  return typeof s.recvWindow === 'number' && typeof s.recvWindowCapacity === 'number' && typeof s.maxStreamWindowSize === 'number' &&
    typeof s.epochStart === 'number' && typeof s.streamId === 'number' && typeof s.getRTT === 'function' && typeof s.sendFrame === 'function'
}
