/** An error answered to a client as {code, message}; the connection stays up. */
export class RpcError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
