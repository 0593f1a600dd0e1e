// The local runtime runs on whatever Node the machine has (20 or newer); Lambda runs Node 22.
// The SDK's notice about Node 20 support is for deployments, not for a laptop: keep it out of the terminal.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
