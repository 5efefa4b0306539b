/**
 * What the user tool needs from the command around it, as interfaces: the command's Logger
 * (cli/log.ts) and its stdin Asker (cli/prompt.ts) fit them, and user/ stays below cli/.
 */

/** Log lines at the original's levels, on stderr. */
export interface UserLog {
  error(message: string): void;
  info(message: string): void;
  verbose(message: string): void;
  debug(message: string): void;
}

/** Asks the user one question and returns the answer line; undefined at end of input. */
export interface Asker {
  ask(question: string): Promise<string | undefined>;
}
