// @hoist/agent
export {};
export * from "./config/index";
export * from "./workdir";
