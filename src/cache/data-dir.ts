/** Where the cache lives unless the caller says otherwise. */
export function defaultDataDir (): string {
  const fromEnv = process.env.IMGP2P_DATA_DIR
  return fromEnv != null && fromEnv !== '' ? fromEnv : '/var/lib/imgp2p'
}
