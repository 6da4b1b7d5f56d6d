import pg from 'pg'
import { describeStore } from '../../../test/contract/store.js'
import { describeWithService, uniqueName } from '../../../test/helpers/services.js'
import { createPostgresStore } from './postgres-store.js'

describeWithService('postgres', 'postgres store', (url) => {
  describeStore('postgres', async () => {
    const schema = uniqueName('kw_test')
    const store = createPostgresStore({
      pool: new pg.Pool({ connectionString: url, max: 3 }),
      schema,
    })
    return {
      store,
      cleanup: async () => {
        await store.close()
        const admin = new pg.Client({ connectionString: url })
        await admin.connect()
        try {
          await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
        } finally {
          await admin.end()
        }
      },
    }
  })
})
