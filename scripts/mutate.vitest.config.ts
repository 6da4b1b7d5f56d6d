// The vitest configuration of `npm run mutate` (scripts/mutate.ts): vitest.config.ts, less what
// cannot run under Stryker. Its runner puts every test file in a worker thread, where
// process.chdir() throws, so the setup that moves each file into an empty directory would fail
// them all (the tests still never read the working directory: `npm test` checks that). The
// end-to-end tests run the built CLI in dist/, which mutants never reach. Only the mutated
// folders' own tests run (KEYWARD_MUTATE_TESTS, set by scripts/mutate.ts).
import { fileURLToPath } from 'node:url'
import { configDefaults, defineConfig } from 'vitest/config'
import base from '../vitest.config.js'

export default defineConfig({
  ...base,
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    ...base.test,
    setupFiles: [],
    ...(process.env.KEYWARD_MUTATE_TESTS
      ? { include: JSON.parse(process.env.KEYWARD_MUTATE_TESTS) as string[] }
      : {}),
    exclude: [...configDefaults.exclude, 'test/e2e/**'],
  },
})
