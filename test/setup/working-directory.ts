// Tests must not depend on the directory they are started from: the README walkthrough leaves
// ./keyward.db and ./keyward.db.pepper in the repository root, and a test that read them would
// pass or fail depending on what the developer did before. So each test file runs in a fresh
// directory holding a decoy keyward.db that is not a database: a test that opens the working
// directory's database fails on it (its message names this directory), and a test that writes
// into the working directory fails when its file ends. The directory sits under
// node_modules/.cache so that child processes started without a cwd still find tsx and
// tsconfig.json by walking up.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll } from 'vitest'

const DECOY = 'keyward.db'
const root = join(import.meta.dirname, '..', '..')
const started = process.cwd()
const cache = join(root, 'node_modules', '.cache')
mkdirSync(cache, { recursive: true })
const dir = mkdtempSync(join(cache, 'keyward-test-cwd-'))
writeFileSync(
  join(dir, DECOY),
  "not a database: a test read the working directory's keyward.db (see test/setup/working-directory.ts)\n",
)
process.chdir(dir)

afterAll(() => {
  process.chdir(started)
  const written = readdirSync(dir).filter((name) => name !== DECOY)
  rmSync(dir, { recursive: true, force: true })
  if (written.length > 0) {
    throw new Error(
      `a test wrote ${written.join(', ')} into the working directory: give it a temporary directory (mkdtempSync, tempDb) instead`,
    )
  }
})
