/**
 * The accuracy colour scale shared by the terminal heatmap and the HTML report: viridis (dark
 * purple 0 % → yellow 100 %), perceptually uniform and readable with the common colour-vision
 * deficiencies (a red–green scale is not).
 */

export type Rgb = [number, number, number];

const STOPS: { at: number; rgb: Rgb }[] = [
  { at: 0, rgb: [68, 1, 84] },
  { at: 25, rgb: [59, 82, 139] },
  { at: 50, rgb: [33, 145, 140] },
  { at: 75, rgb: [94, 201, 98] },
  { at: 100, rgb: [253, 231, 37] },
];

/** Colour of an accuracy (percent, clamped to 0..100) on the viridis scale. */
export function accuracyColour(pct: number): Rgb {
  const v = Math.min(100, Math.max(0, pct));
  for (let k = 1; k < STOPS.length; k++) {
    const a = STOPS[k - 1];
    const b = STOPS[k];
    if (v <= b.at) {
      const f = (v - a.at) / (b.at - a.at);
      return [0, 1, 2].map((c) => Math.round(a.rgb[c] + f * (b.rgb[c] - a.rgb[c]))) as Rgb;
    }
  }
  return STOPS[STOPS.length - 1].rgb;
}

export const rgbCss = ([r, g, b]: Rgb): string => `rgb(${r}, ${g}, ${b})`;

/** Black or white text, whichever reads better on the background. */
export function textOn([r, g, b]: Rgb): Rgb {
  return 0.299 * r + 0.587 * g + 0.114 * b > 140 ? [0, 0, 0] : [255, 255, 255];
}
