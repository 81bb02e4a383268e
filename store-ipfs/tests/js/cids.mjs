// The JS reference importer as a CID oracle for store-ipfs tests.
//   node cids.mjs PATH...   prints "<cid>\t<path>" per argument
// Profile unixfs-v1-2025; hidden files included; files whose owner-execute
// bit is set get mode 0o555 (how store-ipfs records executables). The
// importer does not take symlinks, so trees given here must have none.
import fs from 'node:fs'
import path from 'node:path'
import { importer } from 'ipfs-unixfs-importer'

const blockstore = { put: async (cid) => cid, has: async () => false }

function * entries (p, rel) {
  const st = fs.lstatSync(p)
  if (st.isSymbolicLink()) throw new Error(`symlinks are not supported by the importer: ${p}`)
  if (st.isDirectory()) {
    const kids = fs.readdirSync(p)
    if (kids.length === 0) yield { path: rel }
    for (const k of kids) yield * entries(path.join(p, k), `${rel}/${k}`)
  } else {
    const mode = (st.mode & 0o100) ? 0o555 : undefined
    yield { path: rel, mode, content: (function * () { yield fs.readFileSync(p) })() }
  }
}

for (const p of process.argv.slice(2)) {
  const st = fs.lstatSync(p)
  const src = st.isDirectory()
    ? [...entries(p, path.basename(p))]
    : [{ mode: (st.mode & 0o100) ? 0o555 : undefined, content: (function * () { yield fs.readFileSync(p) })() }]
  let last
  for await (const e of importer(src, blockstore, { profile: 'unixfs-v1-2025' })) last = e
  console.log(`${last.cid}\t${p}`)
}
