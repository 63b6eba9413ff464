/**
 * NAPA-VQ: non-exemplar class-incremental learning with neighbourhood-aware prototype augmentation
 * (Malepathirana, Senanayake, Halgamuge, ICCV 2023, arXiv 2308.09297; docs/methods/napa-vq.md), on
 * frozen features: an MLP adapter plays the encoder, one coding vector per class is the
 * classifier, a class graph names each class's neighbours, L_NA separates a sample from its
 * neighbours' coding vectors, NA-PA replays prototypes interpolated toward graph neighbours, and
 * feature distillation to the previous adapter protects it. Options: napa-vq/options.ts; the
 * learner: napa-vq/learner.ts (on the shared adapter learner napa-vq/cv-learner.ts).
 */
import { defineMethod } from './method.js';
import { NapaVqLearner } from './napa-vq/learner.js';
import { NAPA_VQ_OPTIONS } from './napa-vq/options.js';

export const napaVqMethod = defineMethod({
  name: 'napa-vq',
  description:
    'NAPA-VQ, exemplar-free: MLP adapter on frozen features, coding-vector classifier, class graph, neighbourhood separation, prototype augmentation, feature KD',
  citation:
    'Malepathirana, Senanayake, Halgamuge, NAPA-VQ: Neighborhood-Aware Prototype Augmentation with Vector Quantization for Continual Learning, ICCV 2023, arXiv 2308.09297 (code TamashaM/NAPA-VQ)',
  docs: 'docs/methods/napa-vq.md',
  seeded: true,
  options: NAPA_VQ_OPTIONS,
  create: (o, ctx) => new NapaVqLearner(o, ctx.dim, ctx.seed),
});
