export { createMemoryChangeBus, type MemoryChangeBus } from './memory-changes.js'
export { createMemoryStore } from './memory-store.js'
