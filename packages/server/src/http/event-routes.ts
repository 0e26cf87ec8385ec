// GET /v1/events: the console's live view (see event-hub.ts).
import type { EventHub } from "./event-hub";
import type { Route } from "./router";

export function eventRoutes(hub: EventHub): Route[] {
  return [
    {
      method: "GET",
      path: "/v1/events",
      operationId: "streamEvents",
      summary:
        "Server-sent events: `sources`, `jobs` and `images`, each carrying what GET /v1/sources, /v1/jobs and /v1/images answer, sent at once and again whenever it changes; a comment line keeps the stream alive",
      auth: "apiKey",
      responses: { 200: "text/event-stream", 500: "Too many streams open (Events.TooManyClients, retryable)" },
      errorCodes: ["Events.TooManyClients"],
      async handle() {
        return { status: 200, stream: (res) => hub.open(res) };
      },
    },
  ];
}
