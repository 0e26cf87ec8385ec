// The OpenAPI 3.1 document, built from the route table the server dispatches
// on, with request bodies from the same zod schemas that validate them.
import { z } from "zod";
import { REQUEST_ERROR_CODES } from "./request-input";
import type { Route } from "./router";

export function openApiDocument(routes: readonly Route[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const all: Route[] = [...routes, openApiRoute];
  for (const r of all) {
    const path = r.path.replace(/:([A-Za-z]+)/g, "{$1}");
    const params = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    const query = (r.query ?? []).map((q) => ({ name: q.name, in: "query", required: false, description: q.description, schema: q.schema }));
    const responses: Record<string, unknown> = {};
    for (const [status, description] of Object.entries(r.responses)) responses[status] = { description };
    if (r.auth !== "none" && !responses["401"]) responses["401"] = { description: r.auth === "apiKey" ? "Missing or wrong API key (Api.Unauthorized)" : "Missing or wrong agent token" };
    const errors = r.errorCodes?.length ? { "x-error-codes": r.errorCodes } : {};
    const entry = paths[path] ?? {};
    paths[path] = entry;
    entry[r.method.toLowerCase()] = {
      operationId: r.operationId,
      summary: r.summary,
      ...(r.auth === "none" ? { security: [] } : { security: [{ [r.auth === "apiKey" ? "apiKey" : "agentToken"]: [] }] }),
      ...(params.length || query.length ? { parameters: [...params, ...query] } : {}),
      ...(r.body ? { requestBody: { required: true, content: { "application/json": { schema: z.toJSONSchema(r.body, { unrepresentable: "any", io: "input" }) } } } } : {}),
      responses,
      ...errors,
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Hoist control plane", version, description: "Errors answer { code, message, fix?, retryable } with a 4xx/5xx status." },
    // Any request can be refused with these, before its route looks at it (see x-error-codes of each operation for the rest).
    "x-error-codes": [...REQUEST_ERROR_CODES, "Api.Unauthorized", "Api.NotFound", "Api.MethodNotAllowed"],
    components: {
      securitySchemes: {
        apiKey: { type: "http", scheme: "bearer", description: "An API key (created on the server's first start, or HOIST_API_KEY)" },
        agentToken: { type: "http", scheme: "bearer", description: "The token an agent received when it registered" },
      },
    },
    security: [{ apiKey: [] }],
    paths,
  };
}

/** Served by the server itself; listed so the document describes itself too. */
export const openApiRoute: Route = {
  method: "GET",
  path: "/v1/openapi.json",
  operationId: "getOpenApi",
  summary: "This document",
  auth: "none",
  responses: { 200: "OpenAPI 3.1 JSON" },
  handle: async () => ({ status: 200 }),
};
