// bench/proxy's floor: the least a Node forwarder can do, node:http's own server and client
// (a keep-alive Agent) piping each request to BENCH_UPSTREAM and its answer back, headers as
// they are, no authentication, no checks. Not a proxy to run: it shows how close to the direct
// call any forwarder written in Node can come. Prints `listening on URL`.
import { Agent, createServer, request } from 'node:http'
import { printListening } from '../lib.js'

const upstream = new URL(process.env.BENCH_UPSTREAM!)
const agent = new Agent({ keepAlive: true })
const server = createServer((req, res) => {
  const out = request(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    },
  )
  out.on('error', () => {
    res.statusCode = 502
    res.end()
  })
  req.pipe(out)
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => printListening(server))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
