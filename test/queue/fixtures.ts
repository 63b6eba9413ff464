/** A valid run configuration for the queue tests: nmc on split-mnist-mini, every option at its default. */
import path from 'node:path';
import type { RunConfig } from '../../src/queue/job.js';
import { readScenarioFile, scenariosDir } from '../../src/scenario/scenario.js';

export function mnistNmcConfig(over: Partial<RunConfig> = {}): RunConfig {
  return {
    scenario: readScenarioFile(path.join(scenariosDir(), 'split-mnist-mini.json')),
    overrides: {},
    method: 'nmc',
    options: { variant: 'janson', normalize: 'auto', metric: 'auto', renormalizePrototypes: false, accumulator: 'float64' },
    seed: 1,
    backbone: 'pixels',
    backboneOptions: {},
    backend: 'auto',
    ...over,
  };
}
