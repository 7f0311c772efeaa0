/** PostgreSQL store URLs, without loading the driver: what `--store` is, and how to show it. */

/** Whether a `--store` value names a PostgreSQL database (`postgres://` or `postgresql://`). */
export const isPostgresUrl = (store: string): boolean => /^postgres(ql)?:\/\//i.test(store)

/** The URL without its password, for messages and fingerprints. */
export const displayUrl = (url: string): string => {
  try {
    const u = new URL(url)
    u.password = ""
    return u.toString()
  } catch {
    return "the PostgreSQL URL"
  }
}
