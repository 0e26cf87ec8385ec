// An agent's copy as its own process, so a test can SIGKILL it or run it in
// another host's namespace: transferTree with the options in RUNNER_OPTS,
// progress and the outcome as JSON lines on stdout.
import { transferTree } from "@hoist/agent";

const options = JSON.parse(process.env.RUNNER_OPTS ?? "{}");
try {
  const result = await transferTree({ ...options, onProgress: (p) => process.stdout.write(`${JSON.stringify(p)}\n`) });
  process.stdout.write(`${JSON.stringify({ done: true, vanishedFiles: result.vanishedFiles, changes: result.changes, bytesTotal: result.bytesTotal })}\n`);
} catch (e) {
  const err = e as { code?: string; message?: string };
  process.stdout.write(`${JSON.stringify({ error: err.code ?? "Unknown", message: err.message })}\n`);
  process.exitCode = 1;
}
