import { defineConfig } from 'vitest/config'

export default defineConfig({
  // `keyward/…` imports resolve to the sources through tsconfig.json's "paths", as under tsc
  // and tsx; without this they would load a possibly stale dist/
  resolve: { tsconfigPaths: true },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'dashboard/src/**/*.test.ts'],
    // every test file runs in an empty working directory with a decoy ./keyward.db
    setupFiles: ['test/setup/working-directory.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
