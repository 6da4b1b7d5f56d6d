// The part of autocannon's API bench/http.ts uses (the package ships no types).
declare module 'autocannon' {
  export interface AutocannonRequest {
    method?: string
    path?: string
    headers?: Record<string, string>
    body?: string
    setupRequest?: (req: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest
  }
  export interface AutocannonOptions {
    url: string
    connections?: number
    pipelining?: number
    duration?: number
    amount?: number
    headers?: Record<string, string>
    requests?: AutocannonRequest[]
  }
  export interface Histogram {
    average: number
    p50: number
    p99: number
  }
  export interface AutocannonResult {
    requests: Histogram & { total: number }
    latency: Histogram
    non2xx: number
    errors: number
    timeouts: number
    '2xx': number
  }
  /** The running load: a promise of the result that also emits each response. */
  export interface AutocannonRun extends PromiseLike<AutocannonResult> {
    on(
      event: 'response',
      listener: (
        client: unknown,
        statusCode: number,
        bytes: number,
        responseTimeMs: number,
      ) => void,
    ): this
  }
  function autocannon(options: AutocannonOptions): AutocannonRun
  export default autocannon
}
