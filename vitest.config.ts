import { defineConfig } from 'vitest/config'

export default defineConfig({
  // `keyward/…` imports resolve to the sources through tsconfig.json's "paths", as under tsc
  // and tsx; without this they would load a possibly stale dist/
  resolve: { tsconfigPaths: true },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
