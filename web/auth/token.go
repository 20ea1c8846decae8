// Package auth issues and checks the JWTs of the API and the WebSocket, and
// hashes passwords.
package auth

import (
	"context"
	"encoding/json"
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

// UnmarshalJSON refuses times that are not JSON numbers (RFC 7519's
// NumericDate): jwt.NumericDate also reads "exp":"1700000000", which no
// issuer of ours writes.
func (c *jwtClaims) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		if v, ok := raw[name]; ok && !isNumber(v) {
			return fmt.Errorf("auth: the %s claim is not a number", name)
		}
	}
	type plain jwtClaims // the same fields without this method
	return json.Unmarshal(b, (*plain)(c))
}

// isNumber reports whether v, a valid JSON value, is a number.
func isNumber(v json.RawMessage) bool {
	return len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9')
}

var errCritical = errors.New("auth: the token names critical header extensions")

// key is the key of every token, one that names no critical extension:
// RFC 7515 §4.1.11 makes a token whose "crit" lists any extension the
// verifier does not implement (this one implements none) invalid, and an
// empty list is invalid as well.
func (t *Tokens) key(tok *jwt.Token) (any, error) {
	if _, ok := tok.Header["crit"]; ok {
		return nil, errCritical
	}
	return t.secret, nil
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
// RS/ES confusion are refused), no critical header extension, a valid
// signature, numeric times, and an expiry in the future.
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
	_, err := jwt.ParseWithClaims(token, &c, t.key,
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
