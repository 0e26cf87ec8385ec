// @hoist/transport
export {};
