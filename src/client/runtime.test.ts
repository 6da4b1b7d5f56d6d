import { readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// keyward/client runs on any runtime with fetch (Deno, Bun, workers, browsers): everything it
// loads, its core imports included, must use Web APIs only.
const SRC = join(dirname(fileURLToPath(import.meta.url)), '..')
const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g

function importGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>()
  const pending = [entry]
  while (pending.length > 0) {
    const file = pending.pop()!
    if (graph.has(file)) continue
    const specifiers = [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) => (m[1] ?? m[2])!)
    graph.set(file, specifiers)
    for (const specifier of specifiers) {
      if (specifier.startsWith('.'))
        pending.push(join(dirname(file), specifier.replace(/\.js$/, '.ts')))
    }
  }
  return graph
}

describe('keyward/client', () => {
  const graph = importGraph(join(SRC, 'client/index.ts'))

  it('loads only relative modules of src/client and src/core: no node: built-ins, no packages', () => {
    const outside: string[] = []
    for (const [file, specifiers] of graph) {
      const from = relative(SRC, file)
      if (!from.startsWith('client/') && !from.startsWith('core/')) outside.push(from)
      for (const s of specifiers) if (!s.startsWith('.')) outside.push(`${from} imports ${s}`)
    }
    expect(outside).toEqual([])
  })

  it('walks the whole graph (the check above has something to check)', () => {
    const files = [...graph.keys()].map((f) => relative(SRC, f))
    expect(files).toEqual(
      expect.arrayContaining([
        'client/client.ts',
        'client/send.ts',
        'client/token.ts',
        'core/errors.ts',
      ]),
    )
  })
})
