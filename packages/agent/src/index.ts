// @hoist/agent
export {};
