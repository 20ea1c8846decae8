// Package testkit is the test scaffolding every package's tests share:
// polling (Eventually), client PeerConnections (NewPC), a synthetic VP8
// and Opus sender (Media), a client of the socket protocol (Socket) and a
// media peer on top of it (MediaPeer), the test services (Postgres,
// Redis) and a tRPC client as @trpc/client calls (TRPC).
//
// It imports nothing of this module but protocol, so the package-internal
// tests of sfu may use it. Set-ups that need the store are in
// testkit/stack. Everything it starts (goroutines, PeerConnections,
// sockets) is stopped by its owner's Close or by the test's cleanup.
package testkit
