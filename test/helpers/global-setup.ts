// Runs once before the end-to-end files of a vitest run: they drive the built
// `hoist` bundle, so it is built first when any of its sources is newer.
import { buildIfStale } from "./build";

export default function setup(): void {
  buildIfStale();
}
