package main

import (
	"context"
	"time"

	"github.com/chobilive/chobi/store"
)

// activeUsers tells the token verifier whether a user still exists and was
// not deleted, so a deleted account's tokens stop working at once on the
// API and the WebSocket, not when they expire (JWT_EXPIRES_IN). One
// primary-key lookup per authenticated request or socket, within its
// deadline (API_TIMEOUT) and at most 5 s.
func activeUsers(st *store.Store) func(ctx context.Context, userID string) (bool, error) {
	return func(ctx context.Context, userID string) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return st.UserActive(ctx, userID)
	}
}
