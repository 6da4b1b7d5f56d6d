// bench/proxy's upstream: the smallest useful service (node:http), reading any body and
// answering a short JSON. Prints `listening on URL`.
import { createServer } from 'node:http'

const body = Buffer.from('{"ok":true}')
const server = createServer((req, res) => {
  req.on('data', () => {})
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
    res.end(body)
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  console.log(
    `listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
  )
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
