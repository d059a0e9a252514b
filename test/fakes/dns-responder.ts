/**
 * A scripted authoritative DNS responder on loopback UDP, for answers pebble-challtestsrv cannot
 * give: CAA records with flags other than 0 (the critical flag, RFC 8659 §4.5) and CNAME answers
 * that the server does not chase (a resolver may answer a CAA query with the CNAME alone).
 *
 * ```ts
 * const dns = await startDnsResponder();
 * dns.set('new.example.test', { caa: [{ flags: 128, tag: 'tbs', value: 'Unknown' }] });
 * createNetClient({ dnsResolver: dns.dns, ... });
 * await dns.stop();
 * ```
 *
 * It speaks RFC 1035 wire format (§4.1) over UDP only; answers are small. Names are matched
 * case-insensitively. A name without an entry answers NOERROR with no records (no data).
 */
import { createSocket, type RemoteInfo } from 'node:dgram';

export interface CaaWireRecord {
  flags: number;
  tag: string;
  value: string;
}

export interface DnsEntry {
  /** Answered to CAA queries at this name. */
  caa?: CaaWireRecord[];
  /** Answered to CNAME queries and, alone (never chased), to CAA queries at this name. */
  cname?: string;
  /** Every query at this name answers SERVFAIL. */
  servfail?: boolean;
}

export interface DnsResponder {
  readonly dns: { host: string; port: number };
  set(name: string, entry: DnsEntry): void;
  /** How many queries of each type each name received, e.g. `{ 'a.example.test CAA': 1 }`. */
  readonly queries: Map<string, number>;
  stop(): Promise<void>;
}

const TYPE_CNAME = 5;
const TYPE_CAA = 257;
const CLASS_IN = 1;
const RCODE_SERVFAIL = 2;
const TYPE_NAMES: Record<number, string> = { [TYPE_CNAME]: 'CNAME', [TYPE_CAA]: 'CAA' };

export async function startDnsResponder(): Promise<DnsResponder> {
  const entries = new Map<string, DnsEntry>();
  const queries = new Map<string, number>();
  const socket = createSocket('udp4');
  socket.on('message', (msg: Buffer, from: RemoteInfo) => {
    const reply = answer(msg, entries, queries);
    if (reply !== undefined) socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  const port = socket.address().port;
  let stopped: Promise<void> | undefined;
  return {
    dns: { host: '127.0.0.1', port },
    queries,
    set: (name, entry) => entries.set(normalize(name), entry),
    stop: () => (stopped ??= new Promise<void>((resolve) => socket.close(() => resolve()))),
  };
}

function normalize(name: string): string {
  return (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
}

/** The reply to one query message, or undefined for something that is not a single-question query. */
function answer(msg: Buffer, entries: Map<string, DnsEntry>, queries: Map<string, number>): Buffer | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  const question = readName(msg, 12);
  if (question === undefined || question.end + 4 > msg.length) return undefined;
  const qtype = msg.readUInt16BE(question.end);
  const name = normalize(question.name);
  const key = `${name} ${TYPE_NAMES[qtype] ?? String(qtype)}`;
  queries.set(key, (queries.get(key) ?? 0) + 1);

  const entry = entries.get(name);
  const answers: Buffer[] = [];
  let rcode = 0;
  if (entry?.servfail === true) {
    rcode = RCODE_SERVFAIL;
  } else if (entry?.cname !== undefined && (qtype === TYPE_CNAME || qtype === TYPE_CAA)) {
    answers.push(record(TYPE_CNAME, encodeName(entry.cname)));
  } else if (entry?.caa !== undefined && qtype === TYPE_CAA) {
    for (const r of entry.caa) {
      const tag = Buffer.from(r.tag, 'ascii');
      answers.push(record(TYPE_CAA, Buffer.concat([Buffer.from([r.flags, tag.length]), tag, Buffer.from(r.value, 'utf8')])));
    }
  }
  const header = Buffer.alloc(12);
  header.writeUInt16BE(msg.readUInt16BE(0), 0); // id
  const rd = msg.readUInt16BE(2) & 0x0100;
  header.writeUInt16BE(0x8000 | 0x0400 | rd | rcode, 2); // QR, AA, RD copied, RCODE
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, msg.subarray(12, question.end + 4), ...answers]);
}

/** One answer RR owned by the question name (a pointer to offset 12), class IN, TTL 60. */
function record(type: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(12);
  fixed.writeUInt16BE(0xc00c, 0);
  fixed.writeUInt16BE(type, 2);
  fixed.writeUInt16BE(CLASS_IN, 4);
  fixed.writeUInt32BE(60, 6);
  fixed.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([fixed, rdata]);
}

function encodeName(name: string): Buffer {
  const labels = normalize(name).split('.').filter((l) => l !== '');
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
}

/** An uncompressed name (queries carry no pointers). */
function readName(msg: Buffer, offset: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let at = offset;
  for (;;) {
    if (at >= msg.length) return undefined;
    const len = msg.readUInt8(at);
    if (len === 0) return { name: labels.join('.'), end: at + 1 };
    if (len > 63 || at + 1 + len > msg.length) return undefined;
    labels.push(msg.toString('ascii', at + 1, at + 1 + len));
    at += 1 + len;
  }
}
