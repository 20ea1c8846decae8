// Socket messages that must not compile (see wrong-calls.ts).
import type { ClientMessage, ServerMessage } from "../socket";

// @ts-expect-error an unknown type
export const a: ClientMessage = { type: "join", sessionId: "s1" };
// @ts-expect-error a required field left out
export const b: ClientMessage = { type: "publish_offer", sessionId: "s1" };
// @ts-expect-error a value outside the field's set
export const c: ClientMessage = { type: "set_quality", sessionId: "s1", trackId: "t", quality: "best" };
// @ts-expect-error a server's message is not a client's
export const d: ClientMessage = { type: "pong", time: 1 };
// @ts-expect-error a target that is neither PeerConnection
export const e: ClientMessage = { type: "ice_candidate", sessionId: "s1", target: "both", candidate: null };

export function f(msg: ServerMessage): void {
  if (msg.type === "tracks") {
    // @ts-expect-error tracks has no sdp
    void msg.sdp;
  }
  // @ts-expect-error not every message has a sessionId
  void msg.sessionId;
}
