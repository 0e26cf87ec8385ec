// @hoist/providers
export {};
