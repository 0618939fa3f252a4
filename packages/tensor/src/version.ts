// The engine's version, as in package.json (a test keeps them equal). Tuned choices are stored under it:
// a new version may change the kernels, so it tunes afresh.
export const ENGINE_VERSION = '0.1.0';
