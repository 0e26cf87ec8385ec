// @hoist/receiver
export {};
