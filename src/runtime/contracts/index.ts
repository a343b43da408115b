import type { ContractMap } from "../types.js";
import { COMMAND_CONTRACT } from "./command.js";
import { HTTP_CONTRACT } from "./http.js";

export { EXIT_CODE_HEADER } from "./command.js";

import { WAGI_CONTRACT } from "./wagi.js";

export { parseCgiOutput } from "./wagi.js";

/** Every contract a function can declare; adding one = one file and one entry here. */
export const CONTRACTS = {
  command: COMMAND_CONTRACT,
  wagi: WAGI_CONTRACT,
  http: HTTP_CONTRACT,
} satisfies ContractMap;
