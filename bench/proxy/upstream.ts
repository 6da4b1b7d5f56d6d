// bench/proxy's upstream: the smallest useful service (node:http), reading any body and
// answering a short JSON. Prints `listening on URL`.
import { createServer } from 'node:http'
import { printListening } from '../lib.js'

const body = Buffer.from('{"ok":true}')
const server = createServer((req, res) => {
  req.on('data', () => {})
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
    res.end(body)
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => printListening(server))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
