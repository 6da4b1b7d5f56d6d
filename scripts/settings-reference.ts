// npm run docs:settings: writes the configuration reference of `keyward serve` into README.md,
// between <!-- settings:start --> and <!-- settings:end -->, from the table in
// src/server/settings-table.ts (src/server/settings.test.ts checks the two agree).
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { settingsReference } from '../src/server/settings.js'

const file = join(import.meta.dirname, '..', 'README.md')
const readme = readFileSync(file, 'utf8')
const re = /(<!-- settings:start -->\n)[\s\S]*?(<!-- settings:end -->)/
if (!re.test(readme)) {
  process.stderr.write('README.md has no <!-- settings:start --> … <!-- settings:end --> block\n')
  process.exit(1)
}
writeFileSync(
  file,
  readme.replace(re, (_m, start, end) => `${start}${settingsReference()}\n${end}`),
)
process.stdout.write('README.md: configuration reference updated\n')
