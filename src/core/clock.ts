/** Where keyward reads the time; tests inject a fake one. Epoch milliseconds. */
export interface Clock {
  now(): number
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() }
