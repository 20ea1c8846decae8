package auth

import (
	"context"
	"net/http"
	"strings"
)

type claimsKey struct{}

// WithClaims returns ctx carrying the caller's identity.
func WithClaims(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// FromContext returns the caller's identity, if the request had one.
func FromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}

// BearerToken reads "Authorization: Bearer <token>" (the only place the
// HTTP API takes a token from).
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
