import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Swarm and CLI tests start several libp2p nodes; two cores do not take many at once.
    maxWorkers: 2,
    fileParallelism: true
  }
})
