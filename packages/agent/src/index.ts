// @hoist/agent
export {};
export * from "./config/index";
export * from "./workdir";
export * from "./client-data";
export * from "./progress";
