/** Types of svg-to-pdfkit (it ships none): the options cl uses. */
declare module 'svg-to-pdfkit' {
  interface SvgToPdfOptions {
    width?: number;
    height?: number;
    /** Take SVG user units as points (else 1 px = 0.75 pt). */
    assumePt?: boolean;
    preserveAspectRatio?: string;
    /** The registered pdfkit font for a CSS font family. */
    fontCallback?: (family: string, bold: boolean, italic: boolean, options: unknown) => string;
    warningCallback?: (message: string) => void;
  }
  export default function SVGtoPDF(doc: PDFKit.PDFDocument, svg: string, x: number, y: number, options?: SvgToPdfOptions): void;
}
