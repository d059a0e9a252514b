/**
 * A minimal DER (X.690) reader for the hot paths of PKCS#10 and X.509 handling: definite lengths
 * and one-byte tags, which is all those structures use. Schema libraries cost milliseconds per
 * certificate; these walks cost microseconds. Part of the SDK so connectors can use it too.
 */
export type Der = Uint8Array;


export interface Node {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the contents. */
  end: number;
}

/** The TLV at `offset`; throws RangeError on anything that is not well-formed definite DER. */
export function readNode(buf: Der, offset: number, limit = buf.length): Node {
  const tag = buf[offset];
  let len = buf[offset + 1];
  if (tag === undefined || len === undefined || (tag & 0x1f) === 0x1f) throw new RangeError('DER: truncated or multi-byte tag');
  let contentStart = offset + 2;
  if (len & 0x80) {
    const count = len & 0x7f;
    if (count === 0 || count > 4) throw new RangeError('DER: indefinite or oversized length');
    len = 0;
    for (let i = 0; i < count; i++) {
      const b = buf[contentStart + i];
      if (b === undefined) throw new RangeError('DER: truncated length');
      len = len * 256 + b;
    }
    contentStart += count;
  }
  const end = contentStart + len;
  if (end > limit) throw new RangeError('DER: contents run past their container');
  return { tag, start: offset, contentStart, end };
}

/** The children of a constructed node, in order; `expectTag` guards the parent's tag. */
export function childrenOf(buf: Der, parent: Node, expectTag?: number): Node[] {
  if (expectTag !== undefined && parent.tag !== expectTag) throw new RangeError(`DER: expected tag 0x${expectTag.toString(16)}, found 0x${parent.tag.toString(16)}`);
  const out: Node[] = [];
  for (let off = parent.contentStart; off < parent.end; ) {
    const child = readNode(buf, off, parent.end);
    out.push(child);
    off = child.end;
  }
  return out;
}

export const bytesOf = (buf: Der, node: Node): Der => buf.subarray(node.start, node.end);
export const contentOf = (buf: Der, node: Node): Der => buf.subarray(node.contentStart, node.end);

/** Dotted text of an OBJECT IDENTIFIER node. */
export function oidText(buf: Der, node: Node): string {
  if (node.tag !== 0x06) throw new RangeError('DER: expected an OBJECT IDENTIFIER');
  const bytes = contentOf(buf, node);
  const first = bytes[0] ?? 0;
  const arcs = [Math.min(2, Math.floor(first / 40)), first - 40 * Math.min(2, Math.floor(first / 40))];
  let v = 0;
  for (const b of bytes.subarray(1)) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(v);
      v = 0;
    }
  }
  return arcs.join('.');
}
