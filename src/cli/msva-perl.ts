/** msva-perl: the validation agent (validation-agent.ts) under the name msva-perl. */
import { type Io, processIo } from './io.js';
import { runValidationAgent } from './validation-agent.js';

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  return runValidationAgent('msva-perl', argv, io);
}
