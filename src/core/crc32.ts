// The zlib CRC-32 (polynomial 0xEDB88320). Written here because core depends on node:crypto only.
const TABLE = new Int32Array(256)
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  TABLE[n] = c
}

/** CRC-32 of the ASCII text `text[0, end)` as an unsigned 32-bit integer. */
export function crc32Ascii(text: string, end = text.length): number {
  let crc = -1
  for (let i = 0; i < end; i++) crc = TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}
