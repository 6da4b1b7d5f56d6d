import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { makeCertificate } from '../../test/fixtures/tls.js'
import { runCli } from '../cli/testing.js'
import { DEFAULT_SERVICE_LIMITS } from './app.js'
import {
  resolveSettings,
  SETTINGS,
  type SettingsInput,
  settingFlags,
  settingsReference,
} from './settings.js'

let dir: string
let certs: { first: { cert: string; key: string }; other: { cert: string; key: string } }

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-settings-'))
  certs = { first: makeCertificate(dir, 'first'), other: makeCertificate(dir, 'other') }
})

function configFile(content: string, name = 'keyward.json'): string {
  const file = join(dir, name)
  writeFileSync(file, content)
  return file
}

function resolveWith(input: Partial<SettingsInput>) {
  return resolveSettings({ flags: {}, env: {}, cwd: dir, ...input })
}

describe('resolveSettings', () => {
  it('has a default for everything: loopback HTTP on 8080, SQLite, memory limits', () => {
    const s = resolveWith({})
    expect(s).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      database: 'sqlite:./keyward.db',
      redis: null,
      redisFailurePolicy: 'degrade',
      tls: null,
      behindTlsProxy: false,
      trustedProxies: [],
      logLevel: 'info',
      metricsScope: null,
      publicUrl: null,
      drainTimeout: 10_000,
    })
    expect(s.limits).toEqual(DEFAULT_SERVICE_LIMITS)
    expect(new Set(Object.values(s.origins))).toEqual(new Set(['default']))
  })

  it('takes a flag over the environment, the environment over the file, the file over the default', () => {
    const file = configFile('{"port": 1001, "logLevel": "warn", "drainTimeout": "3s"}')
    const env = { PORT: '1002', KEYWARD_CONFIG: file }
    expect(resolveWith({ env, flags: { port: '1003' } })).toMatchObject({
      port: 1003,
      origins: { port: '--port', logLevel: `"logLevel" in ${file}` },
    })
    expect(resolveWith({ env }).port).toBe(1002)
    expect(resolveWith({ env }).origins.port).toBe('PORT')
    const fromFile = resolveWith({ flags: { config: file } })
    expect(fromFile).toMatchObject({ port: 1001, logLevel: 'warn', drainTimeout: 3000 })
    expect(
      resolveWith({ env: { KEYWARD_CONFIG: file, KEYWARD_LOG_LEVEL: 'debug' } }).logLevel,
    ).toBe('debug')
  })

  it('takes the token lifetime (whole seconds, 1 s to 1 h) and the token audiences', () => {
    expect(resolveWith({}).tokenLifetime).toBe(300)
    expect(resolveWith({}).tokenAudiences).toEqual([])
    expect(resolveWith({ flags: { tokenLifetime: '90s' } }).tokenLifetime).toBe(90)
    for (const bad of ['0s', '1500ms', '2h'])
      expect(() => resolveWith({ env: { KEYWARD_TOKEN_LIFETIME: bad } })).toThrow(
        `tokenLifetime "${bad}" from KEYWARD_TOKEN_LIFETIME is not valid: use a duration of whole seconds from 1s to 60m, e.g. "5m" or "90s"`,
      )
    expect(
      resolveWith({ env: { KEYWARD_TOKEN_AUDIENCES: 'https://a.internal, orders ,orders' } })
        .tokenAudiences,
    ).toEqual(['https://a.internal', 'orders'])
    expect(
      resolveWith({ flags: { tokenAudiences: ['https://a.internal', 'https://b.internal'] } })
        .tokenAudiences,
    ).toEqual(['https://a.internal', 'https://b.internal'])
    expect(() => resolveWith({ flags: { tokenAudiences: ['has space'] } })).toThrow(
      /tokenAudiences \["has space"\] from --token-audience is not valid: use URIs or names without spaces/,
    )
  })

  it('takes a metrics scope and refuses one that is not a scope', () => {
    expect(resolveWith({ env: { KEYWARD_METRICS_SCOPE: 'metrics:read' } }).metricsScope).toBe(
      'metrics:read',
    )
    expect(() => resolveWith({ flags: { metricsScope: 'Metrics Read' } })).toThrow(
      /metricsScope "Metrics Read" from --metrics-scope .*a scope such as metrics:read/,
    )
  })

  it('takes the public URL without a trailing slash and refuses one with a query or another scheme', () => {
    expect(resolveWith({ flags: { publicUrl: 'https://keys.example.com/' } }).publicUrl).toBe(
      'https://keys.example.com',
    )
    for (const bad of ['keys.example.com', 'ftp://keys.example.com', 'https://k.example.com/?a=1'])
      expect(() => resolveWith({ env: { KEYWARD_PUBLIC_URL: bad } })).toThrow(
        /publicUrl .* from KEYWARD_PUBLIC_URL .*an absolute URL such as https:\/\/keys.example.com/,
      )
  })

  it('treats an empty environment variable as unset', () => {
    expect(resolveWith({ env: { PORT: '', KEYWARD_HOST: '' } })).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
    })
  })

  it('reads lists, booleans, durations and sizes from each source', () => {
    const s = resolveWith({
      flags: { trustedProxies: ['10.0.0.0/8', '192.168.1.1'], host: '0.0.0.0' },
      env: { KEYWARD_BEHIND_TLS_PROXY: '1', KEYWARD_HEADERS_TIMEOUT: '500ms' },
      cwd: dir,
    })
    expect(s).toMatchObject({
      trustedProxies: ['10.0.0.0/8', '192.168.1.1'],
      behindTlsProxy: true,
    })
    expect(s.limits.headersTimeoutMs).toBe(500)
    const e = resolveWith({
      env: { KEYWARD_TRUSTED_PROXIES: ' 10.0.0.1 , fd00::/8 ', KEYWARD_MAX_BODY_BYTES: '1024' },
    })
    expect(e.trustedProxies).toEqual(['10.0.0.1', 'fd00::/8'])
    expect(e.limits.bodyBytes).toBe(1024)
    const file = configFile(
      '{"trustedProxies": ["10.1.0.0/16"], "behindTlsProxy": true, "host": "::", "keepAliveTimeout": "2s"}',
      'lists.json',
    )
    expect(resolveWith({ flags: { config: file } })).toMatchObject({
      trustedProxies: ['10.1.0.0/16'],
      behindTlsProxy: true,
      host: '::',
      limits: { keepAliveTimeoutMs: 2000 },
    })
  })

  it('reads the certificate and key when both are set, so a non-loopback host may serve HTTPS', () => {
    const s = resolveWith({
      flags: { tlsCert: certs.first.cert, tlsKey: certs.first.key, host: '0.0.0.0' },
    })
    expect(s.tls?.subject).toBe('CN=first')
    expect(s.tls?.cert.toString()).toContain('BEGIN CERTIFICATE')
  })
})

describe('keyward serve: each mistake is one line naming the setting and its source, exit 2', () => {
  const cases: {
    name: string
    args?: string[]
    env?: Record<string, string>
    line: () => string
  }[] = [
    {
      name: 'a port that is not a number',
      env: { PORT: 'http' },
      line: () => 'port "http" from PORT is not valid: use a whole number from 0 to 65535',
    },
    {
      name: 'a port out of range',
      args: ['--port', '70000'],
      line: () => 'port "70000" from --port is not valid: use a whole number from 0 to 65535',
    },
    {
      name: 'an unknown log level',
      env: { KEYWARD_LOG_LEVEL: 'loud' },
      line: () =>
        'logLevel "loud" from KEYWARD_LOG_LEVEL is not valid: use "fatal", "error", "warn", "info", "debug", "trace" or "silent"',
    },
    {
      name: 'a duration without a unit',
      args: ['--drain-timeout', '10'],
      line: () =>
        'drainTimeout "10" from --drain-timeout is not valid: use a whole number and a unit (ms, s, m, h), e.g. "10s" or "500ms"',
    },
    {
      name: 'a boolean spelled otherwise',
      env: { KEYWARD_BEHIND_TLS_PROXY: 'yes' },
      line: () =>
        'behindTlsProxy "yes" from KEYWARD_BEHIND_TLS_PROXY is not valid: use true or false (or 1 or 0)',
    },
    {
      name: 'a trusted proxy that is no address',
      args: ['--trusted-proxy', '10.0.0.0/8', '--trusted-proxy', 'proxy.local'],
      line: () =>
        'trustedProxies ["10.0.0.0/8","proxy.local"] from --trusted-proxy is not valid: use IP addresses or CIDR ranges, e.g. 10.0.0.0/8 (comma-separated in the environment)',
    },
    {
      name: 'an unknown failure policy',
      env: { KEYWARD_REDIS_FAILURE_POLICY: 'open' },
      line: () =>
        'redisFailurePolicy "open" from KEYWARD_REDIS_FAILURE_POLICY is not valid: use "degrade" or "fail-closed"',
    },
    {
      name: 'a database URL of another kind, its password hidden',
      args: ['--db', 'mysql://app:hunter2@db/keys'],
      line: () =>
        'database "mysql://app:***@db/keys" from --db is not valid: use sqlite:PATH (e.g. sqlite:./keyward.db), sqlite::memory: or postgres://USER@HOST:5432/DB',
    },
    {
      name: 'a Redis URL that is not one, its password hidden',
      env: { KEYWARD_REDIS_URL: 'http://:hunter2@cache:6379' },
      line: () =>
        'redis "http://:***@cache:6379" from KEYWARD_REDIS_URL is not valid: use redis://[USER:PASSWORD@]HOST[:PORT][/DB] or rediss://… (TLS)',
    },
    {
      name: 'a certificate without its key',
      args: ['--tls-cert', 'cert.pem'],
      line: () =>
        'tlsCert (from --tls-cert) is set without tlsKey: set both --tls-cert and --tls-key (KEYWARD_TLS_CERT and KEYWARD_TLS_KEY), or neither',
    },
    {
      name: 'a certificate file that does not exist',
      env: { KEYWARD_TLS_CERT: '/nonexistent/cert.pem', KEYWARD_TLS_KEY: '/nonexistent/key.pem' },
      line: () =>
        "tlsCert (from KEYWARD_TLS_CERT): /nonexistent/cert.pem cannot be read: ENOENT: no such file or directory, open '/nonexistent/cert.pem'",
    },
    {
      name: 'a key given as the certificate',
      args: ['--tls-cert', 'KEY', '--tls-key', 'KEY'],
      line: () =>
        `tlsCert (from --tls-cert): ${certs.first.key} is not a PEM certificate (it should begin with -----BEGIN CERTIFICATE-----)`,
    },
    {
      name: 'a certificate given as the key',
      args: ['--tls-cert', 'CERT', '--tls-key', 'CERT'],
      line: () =>
        `tlsKey (from --tls-key): ${certs.first.cert} is not an unencrypted PEM private key (it should begin with -----BEGIN PRIVATE KEY-----)`,
    },
    {
      name: 'a key of another certificate',
      args: ['--tls-cert', 'CERT', '--tls-key', 'OTHER_KEY'],
      line: () =>
        `tlsKey (from --tls-key): ${certs.other.key} does not match the certificate ${certs.first.cert} (`,
    },
    {
      name: 'plain HTTP on a public address',
      args: ['--host', '0.0.0.0'],
      line: () =>
        'host (from --host) is 0.0.0.0, not a loopback address, and plain HTTP there would carry keys in clear text: serve HTTPS with --tls-cert and --tls-key, or, when a TLS-terminating proxy is in front, say so with --behind-tls-proxy and --trusted-proxy',
    },
    {
      name: 'a TLS proxy without trusted proxies',
      args: ['--host', '0.0.0.0', '--behind-tls-proxy'],
      line: () =>
        "behindTlsProxy (from --behind-tls-proxy) needs trusted proxies: name the proxy's address with --trusted-proxy ADDRESS_OR_CIDR (KEYWARD_TRUSTED_PROXIES), so that the client's address comes from its X-Forwarded-For",
    },
    {
      name: 'a headers timeout longer than the request timeout',
      env: { KEYWARD_HEADERS_TIMEOUT: '1m', KEYWARD_REQUEST_TIMEOUT: '30s' },
      line: () =>
        'headersTimeout (from KEYWARD_HEADERS_TIMEOUT) is longer than requestTimeout (from KEYWARD_REQUEST_TIMEOUT): make the request timeout at least the headers timeout',
    },
    {
      name: 'a config file that does not exist',
      args: ['--config', 'missing.json'],
      line: () => 'config file missing.json (from --config) cannot be read: ENOENT',
    },
    {
      name: 'a config file that is not JSON',
      args: ['--config', 'FILE:{\n  "port": 8080,\n}'],
      line: () => 'is not valid JSON at line 3, column 1: fix the syntax there',
    },
    {
      name: 'a config file holding a list',
      args: ['--config', 'FILE:[]'],
      line: () => 'holds a JSON array: it must be an object of settings, e.g. {"port": 8080}',
    },
    {
      name: 'an unknown key in the config file',
      args: ['--config', 'FILE:{"prot": 8080}'],
      line: () =>
        `unknown setting "prot" in config file FILE: use one of ${Object.keys(SETTINGS).join(', ')}`,
    },
    {
      name: 'a value of the wrong JSON type in the config file',
      args: ['--config', 'FILE:{"port": "8080"}'],
      line: () =>
        'port "8080" from "port" in FILE is a JSON string: use a whole number from 0 to 65535, as a JSON number',
    },
  ]

  it.each(cases)('$name', async ({ args = [], env = {}, line }) => {
    let file = ''
    const argv = args.map((a) => {
      if (a.startsWith('FILE:')) {
        file = configFile(a.slice(5), `case-${Math.random().toString(36).slice(2)}.json`)
        return file
      }
      return { CERT: certs.first.cert, KEY: certs.first.key, OTHER_KEY: certs.other.key }[a] ?? a
    })
    const r = await runCli(['serve', ...argv], { env })
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    const lines = r.stderr.split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[1]).toBe('')
    expect(lines[0]).toContain(`keyward: `)
    expect(lines[0]).toContain(line().replaceAll('FILE', file))
    expect(r.stderr).not.toContain('hunter2')
  })
})

describe('the settings reference', () => {
  it('README.md holds the reference generated from the table', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8')
    const block = /<!-- settings:start -->\n([\s\S]*?)\n<!-- settings:end -->/.exec(readme)?.[1]
    expect(block, 'README.md: run `npm run docs:settings` to write the reference').toBe(
      settingsReference(),
    )
  })

  it('keyward serve --help lists every flag with its environment variable', async () => {
    const r = await runCli(['serve', '--help'])
    expect(r.code).toBe(0)
    for (const f of settingFlags()) {
      expect(r.stdout).toContain(f.flag)
    }
    for (const s of Object.values(SETTINGS)) expect(r.stdout).toContain(s.env)
  })
})
