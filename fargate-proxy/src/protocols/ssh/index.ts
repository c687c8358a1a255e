export { startSshListener, type SshListenerOptions, type RunningSshListener } from './listener.js';
export { sshListenerSchema, sshTargetSchema, type SshListenerConfig, type SshTargetConfig } from './config.js';
export type { SshGatewayContext, SshPolicyPort, SshTarget } from './context.js';
export { hostKeyFingerprint, type UpstreamSshSpec } from './upstream.js';
export { REFUSED_EXIT_STATUS } from './session.js';
export { AsciicastRecorder, replayOutput } from './asciicast.js';
