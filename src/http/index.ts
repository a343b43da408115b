// The HTTP toolkit every Wasmlet server uses (control API, registry, router, serve's control port): bounded
// body reads, the senders and the error envelope, discarding unread bodies, the token check, dispatch.

export {
  authorised,
  carriesToken,
  cookieValue,
  presentedSecret,
  refuseWithoutToken,
  SESSION_COOKIE,
  secretMatches,
  UI_HEADER,
  unauthorisedError,
} from "./auth.js";
export {
  type BodyProgress,
  collectBody,
  DISCARD_LIMIT,
  discardBody,
  drainBody,
  parseJson,
  readBody,
  readJson,
  readSharedBody,
  readSharedBodyFinding,
  setBodyPrefault,
  type TooLarge,
} from "./body.js";
export {
  type Dispatched,
  Dispatcher,
  decodeSegment,
  methodNotAllowed,
  type NotAllowed,
  splitTarget,
} from "./dispatch.js";
export { multipartBoundary, multipartDelimiter, parseMultipart, partHead } from "./multipart.js";
export { type ErrorOptions, finishEarly, sendEmpty, sendError, sendJson, sendText } from "./send.js";
