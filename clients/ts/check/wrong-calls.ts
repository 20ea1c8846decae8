// Calls that must not compile: each line after a @ts-expect-error must
// be an error, or tsc fails on the unused directive. check.test.mjs also
// removes the directives and requires an error under every one of them.
import { trpc } from "./client";

export async function wrong(): Promise<void> {
  // A misspelt procedure.
  // @ts-expect-error
  await trpc.streaming.createSesion.mutate({ title: "t", type: "video", category: "c" });
  // A misspelt router.
  // @ts-expect-error
  await trpc.stream.getActiveSessions.query();
  // A query called as a mutation.
  // @ts-expect-error
  await trpc.streaming.getActiveSessions.mutate({ type: "all" });
  // A mutation called as a query.
  // @ts-expect-error
  await trpc.chat.sendMessage.query({ sessionId: "s1", message: "hi" });
  // A required field left out (title).
  // @ts-expect-error
  await trpc.streaming.createSession.mutate({ type: "video", category: "c", isPrivate: false });
  // A value outside the field's set.
  // @ts-expect-error
  await trpc.streaming.createSession.mutate({ title: "t", type: "radio", category: "c" });
  // @ts-expect-error
  await trpc.streaming.joinSession.mutate({ sessionId: "s1", role: "host" });
  // @ts-expect-error
  await trpc.videos.getVideos.query({ sortBy: "oldest" });
  // @ts-expect-error
  await trpc.notifications.getNotifications.query({ type: "likes" });
  // A field of the wrong type.
  // @ts-expect-error
  await trpc.chat.getMessages.query({ sessionId: "s1", limit: "50" });
  // @ts-expect-error
  await trpc.gifts.sendGift.mutate({ sessionId: "s1", giftId: "gift_rose", recipientId: "u1", quantity: "1" });
  // An input where the procedure takes none... is allowed by tRPC (void); a
  // required input left out is not.
  // @ts-expect-error
  await trpc.chat.sendMessage.mutate();
  // @ts-expect-error
  await trpc.wallet.topUp.mutate({ receipt: "r" });
  // An unknown field (excess property).
  // @ts-expect-error
  await trpc.users.updateProfile.mutate({ displayName: "x", nickname: "y" });
  // @ts-expect-error
  await trpc.users.deleteAccount.mutate({ confirm: "yes" });
  // Outputs are typed too.
  const s = await trpc.streaming.createSession.mutate({ title: "t", type: "audio", category: "c" });
  // @ts-expect-error
  const n: number = s.title;
  // @ts-expect-error
  void s.viewers;
  // A report's reason is one of the listed ones.
  // @ts-expect-error
  await trpc.moderation.report.mutate({ targetType: "user", targetId: "u1", reason: "boredom" });
  // superjson gives Dates, not strings.
  // @ts-expect-error
  const iso: string = s.createdAt;
  void [n, iso];
}
