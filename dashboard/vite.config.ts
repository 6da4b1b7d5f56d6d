// Builds the dashboard into dist/dashboard, served by `keyward serve` at /dashboard.
// Everything is bundled: the page loads nothing from another origin, and nothing inline.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/dashboard/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    // the polyfill would be inline-free too, but no supported browser needs it
    modulePreload: { polyfill: false },
    // light-dark() stays native (a polyfill would ignore the theme chosen in the page)
    cssTarget: ['chrome123', 'edge123', 'firefox120', 'safari17.5'],
    // small assets stay files: a data: URL for a script would need a looser CSP
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
})
