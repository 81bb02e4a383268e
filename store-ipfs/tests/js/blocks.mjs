// Real dag-pb blocks from the JS reference importer, for the seed corpus
// of store-ipfs's `dag_pb` fuzz target.
//   node blocks.mjs OUTDIR   writes dag-pb blocks as OUTDIR/<cid>
// Inputs: a multi-chunk file, executable files (mode 0o555, as store-ipfs
// records them), a small directory tree, a directory large enough to be a
// HAMT, and a symlink node (made with the same libraries: the importer
// itself takes no symlinks). Profile unixfs-v1-2025, as store-ipfs.
import fs from 'node:fs'
import path from 'node:path'
import { importer } from 'ipfs-unixfs-importer'
import { UnixFS } from 'ipfs-unixfs'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

const out = process.argv[2]
fs.mkdirSync(out, { recursive: true })
const write = ([cid, bytes]) => fs.writeFileSync(path.join(out, cid.toString()), bytes)
// A HAMT of this size has a shard per bucket: keep its root and a few.
const shards = []
const blockstore = {
  put: async (cid, bytes) => {
    if (cid.code !== dagPb.code) return cid
    const { Data } = dagPb.decode(bytes)
    if (Data && UnixFS.unmarshal(Data).type === 'hamt-sharded-directory') shards.push([cid, bytes])
    else write([cid, bytes])
    return cid
  },
  has: async () => false
}

// Bytes that do not repeat, so chunks differ.
function noise (n, seed) {
  const b = new Uint8Array(n)
  let x = seed
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24 }
  return b
}
const once = (bytes) => (function * () { yield bytes })()

async function add (source) {
  let last
  for await (const e of importer(source, blockstore, { profile: 'unixfs-v1-2025' })) last = e
  return last.cid
}

await add([{ content: once(noise((5 << 20) / 2, 1)) }])
await add([{ mode: 0o555, content: once(new TextEncoder().encode('#!/bin/sh\necho hi\n')) }])
await add([{ mode: 0o555, content: once(new Uint8Array(0)) }])
await add([{ mode: 0o555, content: once(noise((3 << 20) / 2, 2)) }])
await add([
  { path: 'tree/a', content: once(new TextEncoder().encode('a\n')) },
  { path: 'tree/bin/run', mode: 0o555, content: once(new TextEncoder().encode('run\n')) },
  { path: 'tree/empty' },
  { path: 'tree/z\u00e9\u00ff', content: once(new Uint8Array(0)) }
])
const names = []
for (let i = 0; i < 2500; i++) names.push(`entry-${String(i).padStart(5, '0')}-${'x'.repeat(90)}`)
await add(names.map((n) => ({ path: `big/${n}`, content: once(new TextEncoder().encode(n)) })))
for (const shard of [...shards.slice(0, 4), shards[shards.length - 1]]) write(shard)

const link = dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'symlink', data: new TextEncoder().encode('../bin/run') }).marshal() }))
const cid = CID.createV1(dagPb.code, await sha256.digest(link))
await blockstore.put(cid, link)
