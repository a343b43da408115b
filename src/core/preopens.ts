/**
 * Preopened directories (`fn create --dir LOCAL[::GUEST]`, wasmtime's syntax): GUEST is the name the guest
 * finds with fd_prestat_dir_name, exactly as given, and the directory sits in the function's filesystem at
 * GUEST when that is absolute, else at `/GUEST` (a relative name means a directory of that name under `/`).
 */

/** Most preopens beside "/" a function may have. */
export const MAX_PREOPENS = 16;

/** Why `name` cannot name a preopened directory, or undefined. */
export function preopenProblem(name: string): string | undefined {
  if (name === "" || name.length > 255) return "must be 1-255 characters";
  if (/[\u0000-\u001f]/.test(name)) return "must not contain control characters";
  const segments = name.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) return 'must not contain ".." segments';
  if (segments.length === 0) return '"/" is always preopened (as fd 3); name a directory below it';
  return undefined;
}

/** The normalized absolute path of the directory preopened as `name` ("fs-tests.dir" → "/fs-tests.dir", "./a//b/" → "/a/b"). */
export function preopenPath(name: string): string {
  return `/${name
    .split("/")
    .filter((s) => s !== "" && s !== ".")
    .join("/")}`;
}
