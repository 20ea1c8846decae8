// The extensions' calls (docs/protocol.md, "tRPC procedures beyond the
// contract"): each must type-check against the generated AppRouter.
import { trpc } from "./client";

export async function extensions(): Promise<void> {
  const s = await trpc.streaming.getSession.query({ sessionId: "s1" });
  const ended: Date | undefined = s.endedAt ?? undefined;
  void ended;

  const f = await trpc.users.follow.mutate({ userId: s.hostId });
  const following: boolean = f.following;
  await trpc.users.unfollow.mutate({ userId: s.hostId });
  void following;
  const gone = await trpc.users.deleteAccount.mutate({ confirm: "DELETE", password: "secret" });
  void gone.forfeited.coins;

  const v = await trpc.videos.getVideo.query({ videoId: "v1" });
  await trpc.videos.recordView.mutate({ videoId: v.id });
  await trpc.videos.like.mutate({ videoId: v.id });
  await trpc.videos.unlike.mutate({ videoId: v.id });

  const board = await trpc.gifts.getLeaderboard.query({ sessionId: "s1" });
  await trpc.gifts.getLeaderboard.query({ hostId: s.hostId, period: "month", limit: 10 });
  void board.entries[0]?.user.displayName;

  const tx = await trpc.wallet.getTransactions.query({ currency: "coins", limit: 20 });
  await trpc.wallet.getTransactions.query();
  await trpc.wallet.getTransactions.query({ cursor: tx.nextCursor ?? undefined });
  const when: Date = tx.transactions[0].createdAt;
  void when;

  await trpc.notifications.registerPushToken.mutate({ token: "ExponentPushToken[abc]", platform: "ios", deviceId: "d1" });
  await trpc.notifications.registerPushToken.mutate({ token: "ExponentPushToken[abc]", platform: "android" });
  await trpc.notifications.unregisterPushToken.mutate({ token: "ExponentPushToken[abc]" });

  const settings = await trpc.notifications.getSettings.query();
  const pushGifts: boolean | undefined = settings.types["gift"]?.push;
  void [pushGifts, settings.quietHours?.timeZone, settings.mutedHosts.length];
  await trpc.notifications.updateSettings.mutate({ types: { gift: { push: false } }, muteHosts: [s.hostId] });
  await trpc.notifications.updateSettings.mutate({ quietHours: { start: "22:00", end: "07:00", timeZone: "Asia/Riyadh" } });
  await trpc.notifications.updateSettings.mutate({ clearQuietHours: true });

  const found = await trpc.streaming.search.query({ query: "music", type: "video", limit: 10 });
  void found[0]?.host.displayName;
  const followers = await trpc.users.getFollowers.query({ userId: s.hostId, limit: 20 });
  await trpc.users.getFollowing.query({ userId: s.hostId, cursor: followers.nextCursor ?? undefined });
  const people = await trpc.users.search.query({ query: "rumi" });
  const isFollowing: boolean = people.users[0].isFollowing;
  void isFollowing;

  const b = await trpc.users.block.mutate({ userId: s.hostId });
  const blockedNow: boolean = b.blocked && b.changed;
  void blockedNow;
  await trpc.users.unblock.mutate({ userId: s.hostId });
  const blocked = await trpc.users.getBlocked.query({ limit: 50 });
  await trpc.users.getBlocked.query();
  void blocked.users.length;
  const r = await trpc.moderation.report.mutate({ targetType: "message", targetId: "m1", reason: "harassment", details: "..." });
  const received: "received" = r.status;
  void [received, r.reportId];

  const privacy = await trpc.users.getPrivacySettings.query();
  const gifts: "everyone" | "following" | "nobody" = privacy.giftsFrom;
  void gifts;
  await trpc.users.updatePrivacySettings.mutate({ hideFromSearch: true, giftsFrom: "following" });

  const key = await trpc.streaming.getStreamKey.query();
  const whip: string = key.whipUrl;
  void whip;
  await trpc.streaming.resetStreamKey.mutate();
  await trpc.streaming.setStreamDefaults.mutate({ title: "Live from OBS", category: "music" });
  await trpc.streaming.setStreamDefaults.mutate({ title: "Talk", type: "audio", category: "talk" });

  const products = await trpc.wallet.getProducts.query();
  void products;
  const bought = await trpc.wallet.verifyPurchase.mutate({ platform: "apple", productId: "coins_100", signedTransactionInfo: "eyJ..." });
  const credited: number = bought.amount;
  void [credited, bought.alreadyCredited];
  const archive = await trpc.users.exportData.query();
  let chatCursor = archive.chatMessages?.nextCursor ?? null;
  while (chatCursor !== null) {
    const more = await trpc.users.exportData.query({ section: "chatMessages", cursor: chatCursor, limit: 100 });
    chatCursor = more.chatMessages?.nextCursor ?? null;
  }
  const masked: string | undefined = archive.pushTokens?.items[0]?.token;
  const paid: number | null = archive.giftsReceived?.items[0]?.totalCost ?? null;
  void [masked, paid, archive.profile?.coins];

  // Inputs the server defaults may be left out.
  await trpc.streaming.getActiveSessions.query();
  await trpc.notifications.getNotifications.query();
  await trpc.videos.getVideos.query({});
  await trpc.analytics.getStreamStats.query({});
  await trpc.streaming.joinSession.mutate({ sessionId: "s1" });
  await trpc.chat.sendMessage.mutate({ sessionId: "s1", message: "hi" });
}
