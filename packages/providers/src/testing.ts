// @hoist/providers/testing — for test files only: the conformance suite every
// provider passes. It is an entry of its own because it imports vitest, which
// the main entry (and so the `hoist` bundle) must not carry.
export { type ConformanceSetup, providerConformance } from "./conformance";
