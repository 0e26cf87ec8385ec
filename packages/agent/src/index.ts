
export * from "./config/index";
export * from "./workdir";
export * from "./transfer/index";
export * from "./block/index";
export * from "./client-data";
export * from "./progress";
export * from "./check/index";
export * from "./migrate";
export * from "./preflight";
export * from "./daemon/index";
