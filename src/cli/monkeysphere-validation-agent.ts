/** monkeysphere-validation-agent: the validation agent (validation-agent.ts), also installed as msva-perl and msva. */
import { type Io, processIo } from './io.js';
import { runValidationAgent } from './validation-agent.js';

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  return runValidationAgent('monkeysphere-validation-agent', argv, io);
}
