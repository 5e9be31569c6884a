import { randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { base36 } from 'multiformats/bases/base36'
import { base58btc } from 'multiformats/bases/base58'
import { create } from 'multiformats/hashes/digest'
import { describe, expect, it } from 'vitest'
import { imageCidText } from '../src/cli/cid-text.js'
import { parseCid } from '../src/chunking/cid.js'
import { DAG_CBOR_CODEC, RAW_CODEC, SHA2_256_CODE } from '../src/chunking/constants.js'

const imageCid = (): CID => CID.createV1(DAG_CBOR_CODEC, create(SHA2_256_CODE, randomBytes(32)))
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'
const pick = (chars: string): string => chars[Math.floor(Math.random() * chars.length)]

describe('imageCidText (the CLI\'s CID check without multiformats)', () => {
  it('takes every canonical image CID as it is, and anything of that shape is one', async () => {
    for (let i = 0; i < 2000; i++) {
      const text = imageCid().toString()
      expect(await imageCidText(`  ${text}\n`)).toBe(text)
    }
    // Random text of the canonical shape: the full parser agrees it names an image.
    for (let i = 0; i < 2000; i++) {
      let text = 'bafyrei' + pick('abcdefgh')
      for (let k = 0; k < 50; k++) text += pick(BASE32)
      text += pick('aeimquy4')
      expect(parseCid(text).toString()).toBe(text)
    }
  })

  it('sends other bases through the full parser, to the canonical text', async () => {
    const cid = imageCid()
    expect(await imageCidText(cid.toString(base36))).toBe(cid.toString())
    expect(await imageCidText(cid.toString(base58btc))).toBe(cid.toString())
  })

  it('rejects what is not an image CID, near misses of the shape included', async () => {
    const good = imageCid().toString()
    const chunk = CID.createV1(RAW_CODEC, create(SHA2_256_CODE, randomBytes(32))).toString()
    const bad = ['not-a-cid', '', chunk, good.slice(0, -1), good + 'a', good.slice(0, 7) + 'q' + good.slice(8), good.slice(0, -1) + 'b']
    for (const text of bad) await expect(imageCidText(text)).rejects.toMatchObject({ name: 'InvalidCidError' })
  })
})
