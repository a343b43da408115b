/**
 * Node's own flags of this process in the order node reads them: NODE_OPTIONS, then the command line's (so of two
 * values of a flag the later one is in force).
 */
export function nodeFlags(): string[] {
  return [...(process.env.NODE_OPTIONS ?? "").split(/\s+/).filter(Boolean), ...process.execArgv];
}
