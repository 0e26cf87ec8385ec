// A small route table instead of a web framework: the API is a handful of
// JSON endpoints, and the same table drives dispatch and the OpenAPI document,
// so the document cannot drift from what the server answers.
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import type { z } from "zod";

export type Auth = "apiKey" | "agent" | "none";

export interface RequestContext {
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  headers: IncomingHttpHeaders;
  /** The client's address, for throttling failed credentials. */
  remote: string;
  /** http(s)://host:port as the client reached this server, or --public-url. */
  baseUrl: string;
  /** The bearer credential, when the request carried one. */
  bearer: string | null;
}

export interface Reply {
  status: number;
  body?: unknown;
  contentType?: string;
  raw?: Buffer;
  /** Takes over the response (an event stream); status and body are then unused. */
  stream?: (res: ServerResponse) => void;
}

export interface QueryParam {
  name: string;
  description: string;
  schema: Record<string, unknown>;
}

export interface Route {
  method: "GET" | "POST" | "DELETE";
  /** `/v1/sources/:id` style; `:name` segments become params. */
  path: string;
  operationId: string;
  summary: string;
  auth: Auth;
  body?: z.ZodType;
  query?: QueryParam[];
  /** Status → what it means, for the OpenAPI document. */
  responses: Record<number, string>;
  /** Error codes this endpoint can answer with. */
  errorCodes?: string[];
  handle(ctx: RequestContext): Promise<Reply>;
}

export type Match = { route: Route; params: Record<string, string> } | { methodNotAllowed: true } | null;

export function matchRoute(routes: readonly Route[], method: string, pathname: string): Match {
  const parts = pathname.split("/").filter(Boolean);
  let pathMatched = false;
  for (const route of routes) {
    const pattern = route.path.split("/").filter(Boolean);
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length; i++) {
      const p = pattern[i] as string;
      const v = parts[i] as string;
      if (p.startsWith(":")) {
        try {
          params[p.slice(1)] = decodeURIComponent(v);
        } catch {
          ok = false;
        }
      } else if (p !== v) ok = false;
      if (!ok) break;
    }
    if (!ok) continue;
    pathMatched = true;
    if (route.method === method) return { route, params };
  }
  return pathMatched ? { methodNotAllowed: true } : null;
}
