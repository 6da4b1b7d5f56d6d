import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { InterruptedError, memoryIo, readSecret } from './io.js'

/** A stdin that says it is a terminal and records raw mode switches. */
function terminal(chunks: string[]) {
  const stdin = Object.assign(new PassThrough(), {
    isTTY: true,
    modes: [] as boolean[],
    setRawMode(raw: boolean) {
      stdin.modes.push(raw)
      return stdin
    },
  })
  for (const c of chunks) stdin.write(c)
  return stdin
}

describe('readSecret', () => {
  it('reads everything piped in, removing one trailing newline', async () => {
    await expect(readSecret(memoryIo({ stdin: 'kw_abc\n' }), 'the key')).resolves.toBe('kw_abc')
    await expect(readSecret(memoryIo({ stdin: 'kw_abc\r\n' }), 'the key')).resolves.toBe('kw_abc')
    await expect(readSecret(memoryIo({ stdin: ' a b \n\n' }), 'the key')).resolves.toBe(' a b \n')
  })

  it('reads a terminal line without echo: raw mode on, then restored', async () => {
    const io = memoryIo()
    const stdin = terminal(['kw_live_', 'abcx\x7fd\r', 'not read'])
    const secret = await readSecret({ ...io, stdin }, 'the key')
    expect(secret).toBe('kw_live_abcd')
    expect(stdin.modes).toEqual([true, false])
    expect(io.err()).toBe('Paste the key and press Enter (it is not shown):\n\n')
    expect(io.out()).toBe('')
  })

  it('stops on Ctrl-C at a terminal and restores it', async () => {
    const io = memoryIo()
    const stdin = terminal(['kw_live_ab\x03'])
    await expect(readSecret({ ...io, stdin }, 'the key')).rejects.toBeInstanceOf(InterruptedError)
    expect(stdin.modes).toEqual([true, false])
    expect(io.err()).not.toContain('kw_live')
  })
})
