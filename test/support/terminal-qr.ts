import jsQR from "jsqr";

/**
 * Reads back a QR code that `qrcode`'s small terminal renderer drew (as
 * `account:mfa:activate` shows it): black on white, two modules per character
 * cell in half blocks. Turns it into pixels and decodes them with jsQR, as a
 * phone's camera would; null when it does not decode.
 */
export function decodeTerminalQr(text: string): string | null {
  const rows: boolean[][] = [];
  for (const line of text.split("\n").filter((l) => l.includes("\x1b[47m"))) {
    const cells = [...line.replace(/\x1b\[[0-9;]*m/g, "")];
    // The renderer's last line is the bottom margin, drawn white-on-default: no dark module in it.
    const margin = line.includes("\x1b[37m");
    rows.push(cells.map((c) => !margin && (c === "▀" || c === "█")));
    rows.push(cells.map((c) => !margin && (c === "▄" || c === "█")));
  }
  if (rows.length === 0) return null;
  const scale = 4;
  const border = 4;
  const modules = Math.max(...rows.map((r) => r.length)) + 2 * border;
  const width = modules * scale;
  const height = (rows.length + 2 * border) * scale;
  const pixels = new Uint8ClampedArray(width * height * 4).fill(255);
  rows.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (!dark) return;
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) {
          const at = (((y + border) * scale + dy) * width + (x + border) * scale + dx) * 4;
          pixels[at] = pixels[at + 1] = pixels[at + 2] = 0;
        }
      }
    }),
  );
  return jsQR(pixels, width, height)?.data ?? null;
}
