// The seed's calls (PROTOCOL.md §1), written as the app makes them: each
// must type-check against the generated AppRouter, with the fixed calls
// beside them. Compiled by `make test-ts` (check.test.mjs), never run.
import { TRPCClientError } from "@trpc/client";
import type { AppRouter, RouterInputs, RouterOutputs } from "../api";
import { trpc } from "./client";

export async function seed(): Promise<void> {
  const session = await trpc.streaming.createSession.mutate({
    title: "Evening stream",
    description: "Chat and music",
    type: "video",
    category: "music",
    isPrivate: false,
  });
  const id: string = session.id;
  const created: Date = session.createdAt;
  const live: number = session.viewerCount;
  const ws: string = session.wsUrl;
  const code: string | undefined = session.inviteCode;
  void [created, live, ws, code];

  const joined = await trpc.streaming.joinSession.mutate({ sessionId: id, role: "viewer" });
  await trpc.streaming.joinSession.mutate({ sessionId: id, role: "co-host", inviteCode: "abc" });
  const urls: string[] = joined.iceServers[0].urls;
  void [joined.role, joined.wsUrl, urls];

  const active = await trpc.streaming.getActiveSessions.query({ type: "all", limit: 20 });
  await trpc.streaming.getActiveSessions.query({ type: "video", category: "music", limit: 10 });
  const hostName: string = active[0].host.displayName;
  void [hostName, active[0].host.avatarUrl, active[0].viewerCount];

  const stats = await trpc.streaming.endSession.mutate({ sessionId: id });
  const sums: number[] = [stats.duration, stats.peakViewers, stats.totalViewers, stats.messages, stats.giftsReceived, stats.coinsEarned];
  void sums;

  const msg = await trpc.chat.sendMessage.mutate({ sessionId: id, message: "hi", type: "text" });
  const at: Date = msg.createdAt;
  void [msg.id, msg.userId, msg.displayName, at];
  const history = await trpc.chat.getMessages.query({ sessionId: id, limit: 50 });
  await trpc.chat.getMessages.query({ sessionId: id, limit: 50, before: history[0].id });

  const gifts = await trpc.gifts.getAvailableGifts.query();
  const price: number = gifts[0].price;
  void [gifts[0].id, gifts[0].name, gifts[0].animation, price];
  const tx = await trpc.gifts.sendGift.mutate({ sessionId: id, giftId: "gift_rose", recipientId: session.hostId, quantity: 1 });
  await trpc.gifts.sendGift.mutate({
    sessionId: id, giftId: "gift_rose", recipientId: session.hostId, quantity: 3, message: "bravo", idempotencyKey: "k1",
  });
  const balance: number = tx.senderBalance;
  void [tx.id, tx.totalCost, tx.quantity, balance, tx.createdAt.getTime()];

  const me = await trpc.users.getProfile.query();
  const other = await trpc.users.getProfile.query({ userId: session.hostId });
  await trpc.users.getProfile.query({});
  const coins: number | undefined = me.coins;
  void [coins, me.diamonds, me.preferences, other.followers, other.following, other.bio];
  await trpc.users.updateProfile.mutate({ displayName: "Rumi", bio: "hello", avatarUrl: "https://example.com/a.png" });
  await trpc.users.updateProfile.mutate({ preferences: { language: "ar", theme: "dark" } });

  const video = await trpc.videos.uploadVideo.mutate({
    title: "Clip", description: "", category: "music", tags: ["live"], videoUrl: "https://example.com/v.mp4", duration: 12,
  });
  void [video.id, video.views, video.likes, video.createdAt];
  const page = await trpc.videos.getVideos.query({ sortBy: "recent", limit: 20 });
  await trpc.videos.getVideos.query({ category: "music", sortBy: "trending", limit: 20, cursor: page.nextCursor ?? undefined });
  void page.videos.length;

  const inbox = await trpc.notifications.getNotifications.query({ type: "all", unreadOnly: false, limit: 20 });
  const unread: number = inbox.unreadCount;
  void [unread, inbox.notifications[0]?.title];
  const marked = await trpc.notifications.markAsRead.mutate({ notificationIds: [inbox.notifications[0].id], markAll: false });
  await trpc.notifications.markAsRead.mutate({ notificationIds: [], markAll: true });
  const updated: number = marked.updated;
  void updated;

  const streamStats = await trpc.analytics.getStreamStats.query({ userId: session.hostId, period: "week" });
  void streamStats;

  // Fixed beside the seed (PROTOCOL.md §1's second table).
  const reg = await trpc.auth.register.mutate({ username: "rumi", password: "correct horse", displayName: "Rumi" });
  const token: string = reg.token;
  void [token, reg.user.id];
  await trpc.auth.login.mutate({ username: "rumi", password: "correct horse" });
  await trpc.auth.guest.mutate({ displayName: "Guest" });
  await trpc.auth.guest.mutate();
  const wallet = await trpc.wallet.getBalance.query();
  const both: number = wallet.coins + wallet.diamonds;
  void both;
  const topUp = await trpc.wallet.topUp.mutate({ amount: 100 });
  await trpc.wallet.topUp.mutate({ amount: 100, receipt: "r", idempotencyKey: "k" });
  void [topUp.transactionId, topUp.coins];
}

// Errors carry the server's shape, field errors included.
export function fieldErrors(err: unknown): Record<string, string[]> | undefined {
  if (err instanceof TRPCClientError) {
    return (err as TRPCClientError<AppRouter>).data?.fieldErrors;
  }
  return undefined;
}

// The helper types name every input and output.
export const input: RouterInputs["streaming"]["createSession"] = {
  title: "t", description: "d", type: "audio", category: "c", isPrivate: true,
};
export type Session = RouterOutputs["streaming"]["getSession"];
