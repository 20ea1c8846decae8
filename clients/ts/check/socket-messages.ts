// The socket's messages as a client sends and reads them: must compile.
import type { ClientMessage, ServerMessage, ServerMessageOf } from "../socket";

export const sent: ClientMessage[] = [
  { type: "join_session", id: "1", sessionId: "s1" },
  { type: "leave_session", sessionId: "s1" },
  { type: "ping", id: "2" },
  { type: "send_message", sessionId: "s1", message: "hi" },
  { type: "send_message", sessionId: "s1", message: ":)", messageType: "emoji" },
  { type: "publish_offer", id: "3", sessionId: "s1", sdp: "v=0" },
  { type: "subscribe_answer", sessionId: "s1", sdp: "v=0" },
  { type: "ice_candidate", sessionId: "s1", target: "publisher", candidate: { candidate: "candidate:1 1 udp 1 1.2.3.4 5 typ host", sdpMid: "0", sdpMLineIndex: 0 } },
  { type: "ice_candidate", sessionId: "s1", target: "subscriber", candidate: null },
  { type: "set_quality", sessionId: "s1", trackId: "t1", quality: "auto" },
  { type: "request_cohost", sessionId: "s1" },
  { type: "cohost_response", sessionId: "s1", userId: "u2", accept: true },
  { type: "invite_cohost", sessionId: "s1", userId: "u2" },
  { type: "remove_participant", sessionId: "s1", userId: "u2", ban: true },
];

// A switch on type narrows a received message.
export function handle(msg: ServerMessage): string {
  switch (msg.type) {
    case "session_joined":
      return msg.role + msg.iceServers.map((s) => s.urls.join(",")).join(";") + msg.viewerCount;
    case "tracks":
      return msg.participants.flatMap((p) => p.tracks.map((t) => `${t.kind}/${t.source}/${t.layers.join("")}`)).join();
    case "new_message":
      return msg.message.displayName + msg.message.createdAt;
    case "gift_animation":
      return msg.gift.animation + msg.sender.displayName + msg.quantity;
    case "session_ended":
      return String(msg.stats.duration) + (msg.reason ?? "");
    case "error":
      return msg.code === "rate_limited" ? "slow down" : msg.message;
    case "ice_candidate":
      return msg.candidate?.candidate ?? "end of candidates";
    case "media_failed":
      return msg.target;
    default:
      return msg.type;
  }
}

export const tracks: ServerMessageOf<"tracks">["participants"] = [];
