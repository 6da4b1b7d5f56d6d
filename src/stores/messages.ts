/** Message every SQL store gives when its tables were never created. */
export const NOT_MIGRATED = 'the database has no keyward tables: run keyward migrate'
