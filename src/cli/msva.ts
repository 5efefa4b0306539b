/** msva: the validation agent (validation-agent.ts) under the name msva. */
import { type Io, processIo } from './io.js';
import { runValidationAgent } from './validation-agent.js';

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  return runValidationAgent('msva', argv, io);
}
