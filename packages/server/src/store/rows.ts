// Both drivers return timestamptz as Date and jsonb as parsed values; these
// helpers keep the API's JSON independent of which driver answered.
export function iso(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  return new Date(String(value)).toISOString();
}

export function json<T>(value: unknown): T {
  return (typeof value === "string" ? JSON.parse(value) : value) as T;
}
