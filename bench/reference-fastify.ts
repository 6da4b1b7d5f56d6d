// bench/http's hand-written Fastify reference: now bench/references/fastify.ts (same settings).
import './references/fastify.js'
