import { describeStore } from '../../../test/contract/store.js'
import { createMemoryStore } from './memory-store.js'

describeStore('memory', async () => ({ store: createMemoryStore(), cleanup: async () => {} }))
