/**
 * True when an object in `json` names a member twice (`{"alg":"EdDSA","alg":"none"}`).
 * `JSON.parse` keeps the last one silently while other parsers keep the first, so a token
 * that two verifiers read differently is refused (RFC 7515 §5.2 allows either). Expects JSON
 * that already parsed; One pass.
 */
export function hasDuplicateMembers(json: string): boolean {
  // one entry per open object (its names) or array (null)
  const open: (Set<string> | null)[] = []
  let expectName = false
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i)
    if (c === 0x22) {
      let end = i + 1
      let escaped = false
      while (end < json.length) {
        const d = json.charCodeAt(end)
        if (d === 0x5c) {
          escaped = true
          end += 2
        } else if (d === 0x22) break
        else end++
      }
      if (expectName) {
        // "\u0061" and "a" are the same name
        const name = escaped
          ? (JSON.parse(json.slice(i, end + 1)) as string)
          : json.slice(i + 1, end)
        const names = open[open.length - 1]!
        if (names.has(name)) return true
        names.add(name)
        expectName = false
      }
      i = end
    } else if (c === 0x7b) {
      open.push(new Set())
      expectName = true
    } else if (c === 0x5b) {
      open.push(null)
      expectName = false
    } else if (c === 0x7d || c === 0x5d) {
      open.pop()
      expectName = false
    } else if (c === 0x2c) {
      expectName = open.length > 0 && open[open.length - 1] !== null
    }
  }
  return false
}
