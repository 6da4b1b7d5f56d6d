import { createHmac, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { KeywardError } from './errors.js'
import {
  checkPepperSecret,
  createHasher,
  Hmac256,
  MIN_PEPPER_LENGTH,
  parsePeppers,
} from './hash.js'

const reference = (key: Buffer, message: string) =>
  createHmac('sha256', key).update(message).digest('base64url')

describe('Hmac256', () => {
  const keys = [
    Buffer.from('p'.repeat(32)),
    Buffer.from('k'.repeat(64)), // exactly one block
    Buffer.from('x'.repeat(65)), // longer than a block: hashed first
    Buffer.from('ü-pepper-'.repeat(12)), // multi-byte, over a block
    randomBytes(48),
  ]
  const messages = [
    '',
    'kw_live_3kTMd2Hq8AbCdEfGhIjKlMnOpQrStUvWxYz012345',
    randomBytes(200).toString('base64url'),
    'ünïcödé and emoji 🔑',
    'lone surrogate \ud800 here',
    'a'.repeat(1024), // the largest message of the reused buffer
    'é'.repeat(1024), // two bytes each
    'b'.repeat(1025), // one past it
    '🔑'.repeat(3000), // far past it, four bytes per pair
  ]

  it('equals createHmac for every key and message, in any order of calls', () => {
    for (const key of keys) {
      const hmac = new Hmac256(key)
      for (const m of [...messages, ...messages.slice().reverse()])
        expect(hmac.digest(m), `${key.length}-byte key, ${m.length}-unit message`).toBe(
          reference(key, m),
        )
    }
  })

  it('leaves no part of a message in its reused buffer', () => {
    const hmac = new Hmac256(keys[0]!)
    hmac.digest('kw_live_secretsecretsecret')
    const inner = (hmac as unknown as { inner: Buffer }).inner
    expect(inner.subarray(64).every((b) => b === 0)).toBe(true)
  })
})

describe('createHasher', () => {
  it('hashes with the newest pepper by default and with any configured version on request', () => {
    const v1 = 'hash-test-pepper-one-0123456789abcdef'
    const v2 = 'hash-test-pepper-two-0123456789abcdef'
    const hasher = createHasher([
      { version: 1, secret: v1 },
      { version: 2, secret: v2 },
    ])
    expect(hasher.hash('kw_live_x')).toBe(reference(Buffer.from(v2), 'kw_live_x'))
    expect(hasher.hash('kw_live_x', 1)).toBe(reference(Buffer.from(v1), 'kw_live_x'))
    expect(() => hasher.hash('kw_live_x', 3)).toThrow(/pepper v3 is not configured/)
  })
})

describe('pepper settings', () => {
  // random peppers: whatever else a pepper must be, these are
  const p1 = 'Zq3vR8xTn1Lw6YbK0dHs4PuE9mGc2JfA'
  const p2 = 'hV7pN2tQk5Xz8RwB3yLs0GdM6cJe1UaF'

  it('reads one secret as version 1, and a list of v<N>:<secret> entries', () => {
    expect(parsePeppers(p1)).toEqual([{ version: 1, secret: p1 }])
    expect(parsePeppers(` ${p1}\n`)).toEqual([{ version: 1, secret: p1 }])
    expect(parsePeppers(`v2:${p2}`)).toEqual([{ version: 2, secret: p2 }])
    const both = [
      { version: 2, secret: p2 },
      { version: 1, secret: p1 },
    ]
    expect(parsePeppers(`v2:${p2},v1:${p1}`)).toEqual(both)
    expect(parsePeppers(`v2:${p2}\n v1:${p1} \n\n`)).toEqual(both)
    expect(parsePeppers(`v2:${p2}, ,v1:${p1},`)).toEqual(both)
    expect(parsePeppers(`v123456:${p1}`)).toEqual([{ version: 123456, secret: p1 }])
  })

  it('takes a secret that only looks like a version as the secret', () => {
    expect(parsePeppers(`v1234567:${p1}`)).toEqual([{ version: 1, secret: `v1234567:${p1}` }])
    expect(parsePeppers(`xv1:${p1}`)).toEqual([{ version: 1, secret: `xv1:${p1}` }])
  })

  it('never cuts a secret at a carriage return or a line separator inside it', () => {
    for (const cut of ['\r', '\u2028']) {
      const [pepper] = parsePeppers(`v1:${p1}${cut}${p2}`)
      expect(pepper?.secret).toContain(p2)
    }
  })

  it.each(['', ' ', ',', '\n,\n'])(
    'refuses an empty setting %j, naming where it came from',
    (text) => {
      expect(() => parsePeppers(text, 'KEYWARD_PEPPER_FILE /run/pepper')).toThrow(
        expect.objectContaining({
          name: 'KeywardError',
          code: 'invalid_options',
          message: `KEYWARD_PEPPER_FILE /run/pepper is empty: set it to a random secret of at least ${MIN_PEPPER_LENGTH} characters (e.g. openssl rand -base64 48)`,
        }),
      )
    },
  )

  it('refuses a list with an entry that has no version, without showing any secret', () => {
    for (const text of [`${p2},v1:${p1}`, `v2:${p2},${p1}`]) {
      const attempt = () => parsePeppers(text)
      expect(attempt).toThrow(
        expect.objectContaining({
          code: 'invalid_options',
          message:
            'KEYWARD_PEPPER lists several peppers: write each as v<N>:<secret>, e.g. "v2:…,v1:…"',
        }),
      )
    }
  })

  it('builds a hasher whose current version is the highest, listing versions newest first', () => {
    const hasher = createHasher([
      { version: 2, secret: p2 },
      { version: 10, secret: p1 },
      { version: 1, secret: `${p1}x` },
    ])
    expect(hasher.currentVersion).toBe(10)
    expect(hasher.versions).toEqual([10, 2, 1])
    expect(hasher.hash('kw_live_x')).toBe(reference(Buffer.from(p1), 'kw_live_x'))
  })

  it('has a check value per version that tells peppers apart', () => {
    const hasher = createHasher([
      { version: 1, secret: p1 },
      { version: 2, secret: p2 },
    ])
    expect(hasher.checkValue(1)).toBe(reference(Buffer.from(p1), 'keyward pepper check v1'))
    expect(hasher.checkValue(2)).toBe(reference(Buffer.from(p2), 'keyward pepper check v1'))
    expect(() => hasher.checkValue(3)).toThrow(/pepper v3 is not configured/)
  })

  it.each([
    [[], 'no pepper given: set KEYWARD_PEPPER or KEYWARD_PEPPER_FILE'],
    [[{ version: 0, secret: p1 }], 'pepper version must be a positive integer, got 0'],
    [[{ version: 1.5, secret: p1 }], 'pepper version must be a positive integer, got 1.5'],
    [
      [{ version: 3, secret: p1.slice(0, MIN_PEPPER_LENGTH - 1) }],
      `pepper v3 is ${MIN_PEPPER_LENGTH - 1} characters long: use at least ${MIN_PEPPER_LENGTH} random characters (e.g. openssl rand -base64 48)`,
    ],
    [
      [
        { version: 1, secret: p1 },
        { version: 1, secret: p2 },
      ],
      'pepper v1 is given twice: each version must appear once',
    ],
  ])('refuses %j: %s', (peppers, message) => {
    expect(() => createHasher(peppers)).toThrow(
      expect.objectContaining({ name: 'KeywardError', code: 'invalid_options', message }),
    )
  })

  it(`accepts a pepper of exactly ${MIN_PEPPER_LENGTH} characters`, () => {
    expect(p1).toHaveLength(MIN_PEPPER_LENGTH)
    expect(createHasher([{ version: 1, secret: p1 }]).currentVersion).toBe(1)
  })
})

describe('pepper strength', () => {
  const weak = (distinct: number) =>
    'too little entropy: only ' +
    `${distinct} different character${distinct === 1 ? '' : 's'}, and a pepper needs at least 8: ` +
    'use a random secret (e.g. openssl rand -base64 48)'

  it.each([
    ['one character 32 times', 'a'.repeat(32), 1],
    ['two characters alternating', 'ab'.repeat(24), 2],
    ['a 7-character word repeated', 'changeme'.repeat(5), 7],
  ])('refuses %s, naming the setting, never the secret', (_, secret, distinct) => {
    expect(() => checkPepperSecret(secret, 'KEYWARD_PEPPER')).toThrow(
      new KeywardError('invalid_options', `KEYWARD_PEPPER has ${weak(distinct)}`),
    )
  })

  it('refuses fewer than 32 characters, however varied', () => {
    expect(() => checkPepperSecret('abcdefghijklmnopqrstuvwxyz01234', 'pepper v1')).toThrow(
      'pepper v1 is 31 characters long: use at least 32 random characters (e.g. openssl rand -base64 48)',
    )
  })

  it('accepts 8 different characters, and what openssl and the development pepper produce', () => {
    expect(() => checkPepperSecret('abcdefgh'.repeat(4), 'p')).not.toThrow()
    for (const secret of [
      'Q3ZsdT6h2n0yq8Hf1mKx9cVb4rPj7LwE', // openssl rand -base64 24
      '9f86d081884c7d659a2feaa0c55ad015', // openssl rand -hex 16
      randomBytes(48).toString('base64url'),
    ]) {
      expect(() => checkPepperSecret(secret, 'p')).not.toThrow()
    }
  })

  it('createHasher and parsePeppers both apply it; parsePeppers names the setting and version', () => {
    expect(() => createHasher([{ version: 3, secret: 'x'.repeat(40) }])).toThrow(
      `pepper v3 has ${weak(1)}`,
    )
    const good = 'hash-test-pepper-one-0123456789abcdef'
    expect(() => parsePeppers(`v2:${'ab'.repeat(20)},v1:${good}`)).toThrow(
      `KEYWARD_PEPPER v2 has ${weak(2)}`,
    )
    expect(() => parsePeppers('z'.repeat(64), 'KEYWARD_PEPPER_FILE /run/pepper')).toThrow(
      `KEYWARD_PEPPER_FILE /run/pepper has ${weak(1)}`,
    )
    expect(parsePeppers(good)).toEqual([{ version: 1, secret: good }])
  })
})
