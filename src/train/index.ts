/** Shared training machinery (docs/architecture.md "Layout"): batches, optimisers, schedules, losses, herding, memory, loop. */
export * from './batches.js';
export * from './diverged.js';
export * from './herding.js';
export * from './init.js';
export * from './loop.js';
export * from './losses.js';
export * from './memory.js';
export * from './optimizers.js';
export * from './schedule.js';
