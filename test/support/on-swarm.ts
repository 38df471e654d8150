import { afterAll } from "bun:test";
import { stopSharedSwarm, useSwarm } from "./target.ts";

/**
 * Preloaded by the swarm tier (`bun test --preload ./test/support/on-swarm.ts
 * <files>`): every daemon the files start runs with --runner swarm on one
 * shared three-host Swarm, torn down after the last file.
 */
useSwarm();
afterAll(stopSharedSwarm, 120_000);
