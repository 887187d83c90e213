// Set by vite.config.ts `define`: true in the dev server and the e2e build, false in the build users get.
declare const __ATMAN_TEST_HOOKS__: boolean;
