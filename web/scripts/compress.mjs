// After `vite build`: write NAME.gz beside every text asset of dist/ so the
// server can send compressed bytes (it picks NAME.gz when the client accepts gzip).
import { readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync, constants } from 'node:zlib'

const dist = new URL('../dist/', import.meta.url).pathname
const text = /\.(js|mjs|css|html|svg|json|txt|map)$/
let n = 0, before = 0, after = 0
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    const st = statSync(p)
    if (st.isDirectory()) walk(p)
    else if (text.test(name) && st.size >= 1024) {
      const raw = readFileSync(p)
      const gz = gzipSync(raw, { level: constants.Z_BEST_COMPRESSION })
      if (gz.length < raw.length * 0.9) {
        writeFileSync(p + '.gz', gz)
        n++; before += raw.length; after += gz.length
      }
    }
  }
}
walk(dist)
console.log(`compress: ${n} files, ${(before / 1024).toFixed(0)} KiB -> ${(after / 1024).toFixed(0)} KiB gzip`)
