// @hoist/runtime — the Node.js side of the bottom floor: the structured
// logger with redaction, and running real tools with argument arrays.
export * from "./exec";
export * from "./logger";
export * from "./self";
export * from "./process";
