// Serves the web console's static files (index.html, app.js, app.css) for
// every path outside /v1. The console is a single page that talks to the
// API only, so the files are public; the API key stays in the browser.
import { existsSync, readFileSync, statSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { extname, join, normalize, sep } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
};

/** Locks the page to its own origin: no inline scripts, no framing, no referrer leaks. */
const HEADERS = {
  "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

export interface ConsoleFiles {
  /** Answers GET/HEAD of a console path; false when this path is not the console's. */
  serve(method: string, pathname: string, res: ServerResponse): boolean;
}

export function consoleFiles(dir: string | undefined): ConsoleFiles {
  const root = dir ? normalize(dir) : undefined;
  const cache = new Map<string, Buffer>();
  const read = (file: string): Buffer | null => {
    const hit = cache.get(file);
    if (hit) return hit;
    if (!existsSync(file) || !statSync(file).isFile()) return null;
    const body = readFileSync(file);
    cache.set(file, body);
    return body;
  };
  return {
    serve(method, pathname, res) {
      if ((method !== "GET" && method !== "HEAD") || pathname.startsWith("/v1/") || pathname === "/v1") return false;
      if (!root) {
        const text = "This hoist server was built without its web console (run npm run build). The API is under /v1.\n";
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8", ...HEADERS });
        res.end(method === "HEAD" ? undefined : text);
        return true;
      }
      let rel: string;
      try {
        rel = decodeURIComponent(pathname);
      } catch {
        rel = "/";
      }
      const file = normalize(join(root, rel));
      const inside = file.startsWith(root.endsWith(sep) ? root : root + sep);
      // A path with an extension is a file of the console; any other path is the page itself (it routes by #hash).
      const wanted = extname(rel) ? (inside ? file : null) : join(root, "index.html");
      const served = wanted ? read(wanted) : null;
      if (!served || !wanted) {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8", ...HEADERS });
        res.end(method === "HEAD" ? undefined : "Not found.\n");
        return true;
      }
      res.writeHead(200, {
        "content-type": TYPES[extname(wanted)] ?? "application/octet-stream",
        "content-length": served.length,
        "cache-control": "no-cache",
        ...HEADERS,
      });
      res.end(method === "HEAD" ? undefined : served);
      return true;
    },
  };
}
