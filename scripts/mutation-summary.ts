// The mutation score per folder and every mutant that no test caught, from a Stryker JSON report
// (`npm run mutate` prints it after each run; `npm run mutate:summary [-- FILE]` prints it again,
// by default for reports/mutation/mutation.json; `-- --all` for every file measured so far, from
// test/mutation/results.json.gz).
import { readdirSync, readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { pathToFileURL } from 'node:url'

/** The folders `npm run mutate` measures. */
export const folders = ['src/core', 'src/http', 'src/limits']
/** Files that hold only types or re-exports: nothing in them can change behaviour. */
export const typeOnly = [
  'src/core/types.ts',
  'src/core/limit-types.ts',
  'src/core/verify-types.ts',
  'src/limits/types.ts',
  'src/limits/index.ts',
  'src/http/public.ts',
]

/** The part of Stryker's JSON report (mutation-testing-report-schema) read here. */
export interface Report {
  files: Record<string, { source: string; mutants: Mutant[] }>
  testFiles?: Record<string, unknown>
}

interface Mutant {
  mutatorName: string
  static?: boolean
  replacement?: string
  status: string
  location: { start: Position; end: Position }
}

interface Position {
  line: number
  column: number
}

/** Not caught by any test. Compile and runtime errors are not counted, as Stryker does not. */
export const undetected: ReadonlySet<string> = new Set(['Survived', 'NoCoverage'])

export function printSummary(report: Report): void {
  const folders = new Map<
    string,
    { killed: number; timeout: number; survived: number; noCoverage: number; ignored: number }
  >()
  const survivors: string[] = []
  for (const [file, { source, mutants }] of Object.entries(report.files).sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    const folder = file.split('/').slice(0, 2).join('/')
    const counts = folders.get(folder) ?? {
      killed: 0,
      timeout: 0,
      survived: 0,
      noCoverage: 0,
      ignored: 0,
    }
    folders.set(folder, counts)
    const lines = source.split('\n')
    const sorted = [...mutants].sort(
      (a, b) =>
        a.location.start.line - b.location.start.line ||
        a.location.start.column - b.location.start.column,
    )
    for (const m of sorted) {
      if (m.status === 'Killed') counts.killed++
      else if (m.status === 'Timeout') counts.timeout++
      else if (m.status === 'Survived') counts.survived++
      else if (m.status === 'NoCoverage') counts.noCoverage++
      else if (m.status === 'Ignored') counts.ignored++
      if (!undetected.has(m.status)) continue
      const where = `${file}:${m.location.start.line}:${m.location.start.column}`
      const note = m.status === 'NoCoverage' ? ' (no test reaches it)' : ''
      survivors.push(
        `  ${where} ${m.mutatorName}: ${compact(original(lines, m))} → ${compact(m.replacement ?? '?')}${note}`,
      )
    }
  }

  console.log('\nmutation score (killed / mutants a test could catch):')
  for (const [folder, c] of [...folders].sort(([a], [b]) => a.localeCompare(b))) {
    const caught = c.killed + c.timeout
    const total = caught + c.survived + c.noCoverage
    const score = total === 0 ? 'n/a' : `${((100 * caught) / total).toFixed(1)} %`
    console.log(
      `  ${folder.padEnd(11)} ${score.padStart(7)}  ${caught}/${total} killed` +
        ` (${c.timeout} by timeout), ${c.survived} survived, ${c.noCoverage} not covered` +
        (c.ignored > 0 ? `; ${c.ignored} not run (static, --ignore-static)` : ''),
    )
  }
  console.log(
    survivors.length === 0
      ? '\nno surviving mutants'
      : `\nsurviving mutants (${survivors.length}):`,
  )
  for (const line of survivors) console.log(line)
}

/** The score of each file measured, and the files of the folders not measured yet. */
export function printFiles(report: Report): void {
  console.log('\nper file (killed / could catch):')
  for (const [file, { mutants }] of Object.entries(report.files).sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    const caught = mutants.filter((m) => m.status === 'Killed' || m.status === 'Timeout').length
    const missed = mutants.filter((m) => undetected.has(m.status)).length
    const total = caught + missed
    const score = total === 0 ? 'n/a' : `${((100 * caught) / total).toFixed(1)} %`
    console.log(`  ${file.padEnd(32)} ${score.padStart(7)}  ${caught}/${total}`)
  }
  const missing = folders
    .flatMap((folder) =>
      (readdirSync(folder, { recursive: true }) as string[]).map((f) => `${folder}/${f}`),
    )
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !typeOnly.includes(f))
    .filter((f) => report.files[f] === undefined)
    .sort()
  console.log(
    missing.length === 0 ? '\nevery file measured' : `\nnot measured yet: ${missing.join(', ')}`,
  )
}

/** The source text a mutant replaced (its location is 1-based lines, 1-based columns). */
function original(lines: string[], m: Mutant): string {
  const { start, end } = m.location
  const picked = lines.slice(start.line - 1, end.line)
  if (picked.length === 0) return '?'
  picked[picked.length - 1] = picked[picked.length - 1]!.slice(0, end.column - 1)
  picked[0] = picked[0]!.slice(start.column - 1)
  return picked.join('\n')
}

/** One line, at most 60 characters: enough to recognise the code in the listing. */
function compact(code: string): string {
  const line = code.replace(/\s+/g, ' ').trim()
  return line.length > 60 ? `${line.slice(0, 59)}…` : line
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = process.argv[2]
  const text =
    arg === '--all'
      ? gunzipSync(readFileSync('test/mutation/results.json.gz')).toString('utf8')
      : readFileSync(arg ?? 'reports/mutation/mutation.json', 'utf8')
  const report = JSON.parse(text) as Report
  printSummary(report)
  if (arg === '--all') printFiles(report)
}
