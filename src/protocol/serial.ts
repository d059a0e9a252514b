/** Certificate serial numbers as stored and compared: lower-case hex without leading zeros. */
export function normalizeSerial(hex: string): string {
  return hex.toLowerCase().replace(/:/g, '').replace(/^0+(?=.)/, '');
}
