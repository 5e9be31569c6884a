/**
 * An image CID from the command line, in its canonical text.
 *
 * Why not just parseCid: loading multiformats is 17 of the 35 ms of CPU a
 * `pull` CLI spends before it reaches its daemon, and a cloud deploying N
 * VMs starts N of them at once beside busy daemons. The canonical form,
 * base32 CIDv1 of a dag-cbor manifest hashed with sha2-256 (what `imgp2p
 * add` prints), has a fixed shape: "bafyrei" encodes version, codec, hash
 * and length; the next character carries the length's last two bits (zero);
 * the last one carries two bits of padding (zero). Text of that shape is an
 * image CID (test/cid-text.test.ts checks both ways); anything else, other
 * bases included, goes through the full parser.
 */
const CANONICAL_IMAGE_CID = /^bafyrei[a-h][a-z2-7]{50}[aeimquy4]$/

export async function imageCidText (text: string): Promise<string> {
  const t = text.trim()
  if (CANONICAL_IMAGE_CID.test(t)) return t
  const { parseCid } = await import('../chunking/cid.js')
  return parseCid(t).toString()
}
