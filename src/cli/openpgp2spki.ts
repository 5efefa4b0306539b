/** openpgp2spki: the keytrans translator of that name (see keytrans.ts); the original's command-line interface. */
import { type Io, processIo } from './io.js';
import { main as keytrans } from './keytrans.js';

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  return keytrans(argv, io, 'openpgp2spki');
}
