/**
 * A partial config without its undefined keys: spread over the defaults, an
 * option a caller left undefined (a CLI flag not given) keeps the default
 * instead of replacing it with undefined.
 */
export function definedOnly<T extends object> (o: T | undefined): Partial<T> {
  const out: Partial<T> = {}
  for (const [k, v] of Object.entries(o ?? {})) if (v !== undefined) (out as Record<string, unknown>)[k] = v
  return out
}
