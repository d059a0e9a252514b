/** RFC 7515 §2 base64url without padding. */
export const base64url = {
  encode(data: Uint8Array | string): string {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return buf.toString('base64url');
  },
  /** Decodes strictly: only the base64url alphabet, no padding. Returns undefined on bad input. */
  decode(text: string): Uint8Array | undefined {
    if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
    return new Uint8Array(Buffer.from(text, 'base64url'));
  },
  decodeString(text: string): string | undefined {
    const bytes = base64url.decode(text);
    return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');
  },
};
