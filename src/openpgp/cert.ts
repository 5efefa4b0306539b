/**
 * Transferable public (and secret) keys, RFC 9580 §10.1: splits a packet stream into
 * certificates, keeping every packet's bytes. Structure only; what is valid at a
 * given time is decided in src/cert/.
 */
import { type MsError, MalformedPacketError } from '../errors.js';
import { type KeyPacket, parseKeyPacket } from './key-packet.js';
import { type Packet, type PacketView, readPacket, Tag } from './packets.js';
import { parseSignature, type Signature } from './signature.js';

/** A signature packet as found; `sig` is absent when it could not be parsed (it is still written back). */
export interface SigEntry {
  packet: Packet;
  sig?: Signature;
  error?: MsError;
}

export interface UserComponent {
  kind: 'userid' | 'attribute';
  packet: Packet;
  /** The user ID as text (UTF-8, lossy for invalid bytes); empty for attributes. */
  text: string;
  signatures: SigEntry[];
}

export interface SubkeyComponent {
  key: KeyPacket;
  signatures: SigEntry[];
}

export interface Cert {
  primary: KeyPacket;
  /** Signatures directly on the primary key: direct-key (0x1F) and key revocations (0x20). */
  directSigs: SigEntry[];
  users: UserComponent[];
  subkeys: SubkeyComponent[];
  /** True when built from secret-key packets. */
  secret: boolean;
  /** Every packet of the certificate in input order (trust and unknown packets too). */
  packets: Packet[];
}

export interface ReadResult {
  certs: Cert[];
  /** What was skipped, each naming the packet and its offset. */
  problems: MsError[];
}

export interface ReadOptions {
  /** Accept secret-key packets as certificate starts (default true). */
  allowSecret?: boolean;
}

/**
 * Reads every certificate in a binary packet stream. Problems in one certificate
 * (a bad key packet, an oversized user ID, an unparseable signature) skip only that
 * part; a framing error ends reading, but certificates already complete are kept.
 */
export function readCerts(bytes: Buffer, opts: ReadOptions = {}): ReadResult {
  const certs: Cert[] = [];
  const problems: MsError[] = [];
  let current: Cert | undefined;
  /** Where signatures go now; undefined while skipping a broken component. */
  let sink: SigEntry[] | undefined;
  let skippingCert = false;

  const finish = () => {
    if (current) certs.push(current);
    current = undefined;
    sink = undefined;
  };

  for (let pos = 0; pos < bytes.length; ) {
    let packet: PacketView;
    try {
      packet = readPacket(bytes, pos);
    } catch (err) {
      problems.push(err as MsError);
      // The certificate being built may be missing its tail; drop it rather than trust half of it.
      // But when the packet that cannot be framed starts the next certificate, the one being
      // built is complete: without this, a keyring cut one byte into a primary-key packet
      // lost the whole certificate before it too.
      const failedTag = err instanceof MalformedPacketError ? err.tag : undefined;
      const startsNext = failedTag === Tag.PublicKey || (failedTag === Tag.SecretKey && opts.allowSecret !== false);
      if (!startsNext) current = undefined;
      break;
    }
    pos = packet.end;
    const { tag, oversized } = packet;
    const isPrimary = tag === Tag.PublicKey || (tag === Tag.SecretKey && opts.allowSecret !== false);

    if (isPrimary) {
      finish();
      skippingCert = false;
      if (oversized) {
        problems.push(new MalformedPacketError(`key packet of ${packet.body.length} bytes exceeds the size limit`, packet.offset, tag));
        skippingCert = true;
        continue;
      }
      try {
        const primary = parseKeyPacket(packet);
        current = { primary, directSigs: [], users: [], subkeys: [], secret: tag === Tag.SecretKey, packets: [packet] };
        sink = current.directSigs;
      } catch (err) {
        problems.push(err as MsError);
        skippingCert = true;
      }
      continue;
    }
    if (skippingCert) continue;
    if (!current) {
      if (tag !== Tag.Marker && tag !== Tag.Trust) {
        problems.push(new MalformedPacketError('packet outside any certificate', packet.offset, tag));
      }
      continue;
    }
    if (tag === Tag.Trust || tag === Tag.Marker || tag === Tag.Padding) {
      current.packets.push(packet);
      continue;
    }
    if (oversized) {
      problems.push(new MalformedPacketError(`packet of ${packet.body.length} bytes exceeds the size limit; component dropped`, packet.offset, tag));
      if (tag !== Tag.Signature) sink = undefined;
      continue;
    }
    switch (tag) {
      case Tag.Signature: {
        if (!sink) continue;
        current.packets.push(packet);
        try {
          sink.push({ packet, sig: parseSignature(packet) });
        } catch (err) {
          problems.push(err as MsError);
          sink.push({ packet, error: err as MsError });
        }
        break;
      }
      case Tag.UserId:
      case Tag.UserAttribute: {
        const user: UserComponent = {
          kind: tag === Tag.UserId ? 'userid' : 'attribute',
          packet,
          text: tag === Tag.UserId ? packet.body.toString('utf8') : '',
          signatures: [],
        };
        current.users.push(user);
        current.packets.push(packet);
        sink = user.signatures;
        break;
      }
      case Tag.PublicSubkey:
      case Tag.SecretSubkey: {
        try {
          const sub: SubkeyComponent = { key: parseKeyPacket(packet), signatures: [] };
          current.subkeys.push(sub);
          current.packets.push(packet);
          sink = sub.signatures;
        } catch (err) {
          problems.push(err as MsError);
          sink = undefined;
        }
        break;
      }
      default:
        // Unknown packets inside a certificate are kept for writing back but not interpreted.
        current.packets.push(packet);
        sink = undefined;
    }
  }
  finish();
  return { certs, problems };
}

/** The certificate's bytes exactly as read (or as merged). */
export function writeCert(cert: Cert): Buffer {
  return Buffer.concat(cert.packets.map((p) => p.raw));
}

/** Public-only packets (no secret material, no trust packets), as `gpg --export` would give. */
export function publicPackets(cert: Cert): Packet[] {
  return cert.packets.filter((p) => p.tag !== Tag.Trust && p.tag !== Tag.Marker);
}

export function writeCerts(certs: Cert[]): Buffer {
  return Buffer.concat(certs.map(writeCert));
}

/** Every user ID (not attribute) of the certificate. */
export function userIds(cert: Cert): UserComponent[] {
  return cert.users.filter((u) => u.kind === 'userid');
}
