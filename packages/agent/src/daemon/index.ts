// The agent as a daemon imported into a control plane (`hoist agent`), and the
// HTTP client the CLI shares with it.
export { ControlPlaneClient, type ControlClientOptions } from "./control-client";
export { type AgentCredential, credentialPath, loadCredential } from "./credential";
export { abortAgentDaemon, type AgentDaemonOptions, runAgentDaemon } from "./run-agent";
