// Package auth issues and checks the JWTs of the API and the WebSocket, and
// hashes passwords.
package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims is who a token speaks for.
type Claims struct {
	UserID   string
	Username string
	Guest    bool
}

// Tokens signs and verifies HS256 JWTs with one secret.
type Tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
	active func(ctx context.Context, userID string) (bool, error)
}

// RequireActive makes Verify refuse the tokens of users for whom active
// says false (a deleted account), however long the token has to run. Call
// it before the Tokens are shared.
func (t *Tokens) RequireActive(active func(ctx context.Context, userID string) (bool, error)) {
	t.active = active
}

// NewTokens makes a signer; ttl is how long an issued token is valid.
func NewTokens(secret []byte, ttl time.Duration) *Tokens {
	return &Tokens{secret: secret, ttl: ttl, now: time.Now}
}

type jwtClaims struct {
	Username string `json:"username,omitempty"`
	Guest    bool   `json:"guest,omitempty"`
	jwt.RegisteredClaims
}

// ErrInvalidToken is returned for a missing, malformed, forged, expired or
// wrongly signed token.
var ErrInvalidToken = errors.New("invalid or expired token")

// Issue signs a token for c, valid for the configured time.
func (t *Tokens) Issue(c Claims) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(t.ttl)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwtClaims{
		Username: c.Username, Guest: c.Guest,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject: c.UserID, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp), Issuer: "chobi",
		},
	})
	s, err := tok.SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: sign token: %w", err)
	}
	return s, exp, nil
}

// Verify checks a token: HS256 only (the algorithm is pinned, so "none" and
// RS/ES confusion are refused), a valid signature, and an expiry in the future.
func (t *Tokens) Verify(token string) (Claims, error) {
	return t.VerifyContext(context.Background(), token)
}

// VerifyContext is Verify with the context of the active check, so that a
// request's deadline bounds it.
func (t *Tokens) VerifyContext(ctx context.Context, token string) (Claims, error) {
	if token == "" {
		return Claims{}, ErrInvalidToken
	}
	var c jwtClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil || c.Subject == "" {
		return Claims{}, ErrInvalidToken
	}
	if t.active != nil {
		// A failed check lets the token through: the database is what
		// failed, and the request will fail on it with a server error
		// rather than sign every client out.
		if ok, err := t.active(ctx, c.Subject); err == nil && !ok {
			return Claims{}, ErrInvalidToken
		}
	}
	return Claims{UserID: c.Subject, Username: c.Username, Guest: c.Guest}, nil
}
