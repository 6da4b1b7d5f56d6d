// `npm run mutate [-- PATH...] [--force] [--ignore-static] [--concurrency N]`: mutation testing with Stryker,
// narrowed to the folders or files given (default: src/core, src/http and src/limits), then the
// summary of scripts/mutation-summary.ts. Not part of `npm test` or CI; see README "Testing".
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { gunzipSync, gzipSync } from 'node:zlib'
import { Stryker } from '@stryker-mutator/core'
import {
  folders,
  printSummary,
  type Report,
  typeOnly,
  undetected,
} from './mutation-summary.js'

/**
 * The tests that judge each folder's mutants: the folder's own. Running every test that
 * happens to reach a line (server, proxy and process tests reach most of src/http) made a
 * mutant cost 20 s on 2 cores and a folder days; the folder's own tests must guard it.
 */
const ownTests: Record<string, string[]> = {
  'src/core': ['src/core/**/*.test.ts'],
  'src/http': ['src/http/**/*.test.ts', 'test/http/**/*.test.ts'],
  'src/limits': ['src/limits/**/*.test.ts'],
}
const excluded = ['!src/**/*.test.ts', ...typeOnly.map((f) => `!${f}`)]
const reports = 'reports/mutation'
const incrementalFile = `${reports}/incremental.json`
const jsonReport = `${reports}/mutation.json`
/**
 * The results of every file measured so far, kept in git: a folder takes hours on 2 cores, so
 * its files are measured a few at a time, across sessions and machines.
 */
const savedResults = 'test/mutation/results.json.gz'

const usage =
  'usage: npm run mutate [-- src/core | src/core/scopes.ts ...] [--force] [--ignore-static] [--concurrency N]'
const paths: string[] = []
let force = false
let ignoreStatic = false
let concurrency = 2
const args = process.argv.slice(2)
for (let i = 0; i < args.length; i++) {
  const arg = args[i]!
  if (arg === '--force') force = true
  else if (arg === '--ignore-static') ignoreStatic = true
  else if (arg === '--concurrency') {
    concurrency = Number(args[++i])
    if (!Number.isInteger(concurrency) || concurrency < 1)
      fail('--concurrency needs a whole number >= 1')
  } else if (arg.startsWith('-')) fail(`unknown option "${arg}"`)
  else paths.push(arg.replace(/\/+$/, ''))
}
const folderOf = (p: string): string => {
  const folder = folders.find((f) => p === f || p.startsWith(`${f}/`))
  if (folder === undefined) fail(`"${p}" is not in ${folders.join(', ')}`)
  return folder
}
const tests = [...new Set((paths.length > 0 ? paths : folders).flatMap((p) => ownTests[folderOf(p)]!))]
// read by scripts/mutate.vitest.config.ts, in Stryker's test runner processes
process.env.KEYWARD_MUTATE_TESTS = JSON.stringify(tests)
const scope = (paths.length > 0 ? paths : folders).map((p) => {
  if (!existsSync(p)) fail(`"${p}" does not exist: give a folder or a .ts file under src`)
  return statSync(p).isDirectory() ? `${p}/**/*.ts` : p
})

// The tests that need PostgreSQL and Redis run for real, against the services .ci/run uses.
// CI makes such a test fail instead of skipping when its service is missing, so that no mutant
// survives only because the tests that reach it were skipped.
process.env.KEYWARD_TEST_POSTGRES_URL ||= 'postgres://postgres@127.0.0.1:5432/test'
process.env.KEYWARD_TEST_REDIS_URL ||= 'redis://127.0.0.1:6379'
process.env.CI ||= 'true'

const options: ConstructorParameters<typeof Stryker>[0] = {
  mutate: [...scope, ...excluded],
  testRunner: 'vitest',
  // Only the test files that import a mutated file run in the dry run, and then each mutant
  // runs only the tests that reached it (perTest): what makes a run feasible on 2 cores.
  vitest: { configFile: 'scripts/mutate.vitest.config.ts', related: true },
  coverageAnalysis: 'perTest',
  // Mutants that do not compile are dropped before any test runs. The checker compiles src
  // only (scripts/mutate.tsconfig.json): with the tests, bench and dashboard in its program it
  // took most of the CPU of a run (measured: 4.5 min against 2.4 for the same two files).
  checkers: ['typescript'],
  tsconfigFile: 'scripts/mutate.tsconfig.json',
  concurrency,
  // The runner forces vitest into one thread, so the dry run takes longer than `npm test`.
  dryRunTimeoutMinutes: 20,
  timeoutMS: 10_000,
  ignorePatterns: ['dist', 'reports', 'coverage', '.bench-tmp', '.ci', '*.db', '*.pepper'],
  tempDirName: '.stryker-tmp',
  // Reruns test only the mutants whose code or covering tests changed (--force: all of them).
  incremental: true,
  incrementalFile,
  force,
  // Each static mutant runs every related test file (a minute on 2 shared cores); skipping
  // them makes a folder's first run fit in an hour. The summary counts them as not run.
  ignoreStatic,
  reporters: ['progress', 'json', 'html'],
  jsonReporter: { fileName: jsonReport },
  htmlReporter: { fileName: `${reports}/mutation.html` },
  thresholds: { high: 90, low: 85, break: null },
}

// Stryker rewrites its incremental file with the files of this run only; keep the other files'
// results, so that running one folder does not throw away what a run of another one learned.
if (!existsSync(incrementalFile) && existsSync(savedResults)) {
  mkdirSync(reports, { recursive: true })
  writeFileSync(incrementalFile, gunzipSync(readFileSync(savedResults)))
}
const previous = existsSync(incrementalFile) ? readReport(incrementalFile) : undefined
if (previous) {
  // Stryker reuses the result of a surviving static mutant even when new tests were added (it
  // cannot tell which tests reach it): forget those results so that they are tested again.
  const kept = structuredClone(previous)
  for (const file of Object.values(kept.files))
    file.mutants = file.mutants.filter((m) => !(m.static && undetected.has(m.status)))
  writeFileSync(incrementalFile, JSON.stringify(kept))
}

const started = Date.now()
try {
  await new Stryker(options).runMutationTest()
} catch {
  // Stryker has logged what went wrong; a summary of a stale report would mislead.
  process.exit(1)
}
const minutes = ((Date.now() - started) / 60_000).toFixed(1)

if (previous && existsSync(incrementalFile)) {
  const latest = readReport(incrementalFile)
  latest.files = { ...previous.files, ...latest.files }
  latest.testFiles = { ...previous.testFiles, ...latest.testFiles }
  writeFileSync(incrementalFile, JSON.stringify(latest))
}

if (existsSync(incrementalFile)) {
  mkdirSync('test/mutation', { recursive: true })
  writeFileSync(savedResults, gzipSync(readFileSync(incrementalFile), { level: 9 }))
}

console.log(`\nmutation run of ${(paths.length > 0 ? paths : folders).join(', ')}: ${minutes} min`)
printSummary(readReport(jsonReport))

function readReport(file: string): Report {
  return JSON.parse(readFileSync(file, 'utf8')) as Report
}

function fail(message: string): never {
  console.error(`mutate: ${message}\n${usage}`)
  process.exit(2)
}
