import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // expect.poll's own default (1 s) is a sleep-then-assert in disguise on two shared cores.
    expect: { poll: { timeout: 10_000 } },
    // Real servers and browsers share two cores: keep the number of concurrent files modest.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
