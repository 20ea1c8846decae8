// The media client (client.js) used as an app would: must compile.
import { ChobiSocket, LiveSession, SocketError } from "../client.js";

export async function watch(wsUrl: string, token: string, sessionId: string): Promise<void> {
  const socket = new ChobiSocket({ url: wsUrl, token });
  const live = new LiveSession({
    socket,
    sessionId,
    onTrack: (track, streams) => console.log(track.kind, streams[0]?.id),
    onMediaFailed: (target) => console.log("rejoining after", target),
  });
  socket.on("tracks", (m) => m.participants.forEach((p) => p.tracks.forEach((t) => live.setQuality(t.trackId, "auto"))));
  socket.on("new_message", (m) => console.log(m.message.displayName, m.message.message));
  await socket.open();
  const joined = await live.join(); // and again by itself after every reconnect
  const role: "host" | "co-host" | "viewer" = joined.role;
  const pong = await socket.request({ type: "ping" });
  void [role, pong.time];
  try {
    await socket.request({ type: "publish_offer", sessionId, sdp: "v=0" });
  } catch (e) {
    if (e instanceof SocketError && e.code === "forbidden") console.log("viewers do not publish");
  }
  // @ts-expect-error set_quality takes low, medium, high or auto
  live.setQuality("t1", "best");
  // @ts-expect-error an unknown message type
  socket.on("track_added", () => {});
}

export async function host(stream: MediaStream, live: LiveSession): Promise<void> {
  await live.publish(stream.getTracks().map((track) => ({ track, stream })));
  await live.restartIce();
}
