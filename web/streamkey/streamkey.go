// Package streamkey makes and checks hosts' WHIP stream keys: long-lived
// Bearer tokens that encoders such as OBS store, good for WHIP ingest only.
//
// A key is derived from the server's secret and a random per-host nonce,
// so the database alone (which keeps the nonce and the key's SHA-256 hash)
// never yields a working key, while the host can read the key again.
// Rotating the secret invalidates every key.
package streamkey

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Prefix starts every stream key: a Bearer token with it is never a JWT
// (whose first part is base64 of "{"), so the two are told apart at once.
const Prefix = "chobi_sk_"

// Keys derives stream keys from one secret.
type Keys struct{ secret []byte }

// New makes Keys with the server's secret (JWT_SECRET).
func New(secret []byte) *Keys {
	return &Keys{secret: append([]byte("chobi stream key\x00"), secret...)}
}

// NewNonce is a fresh random nonce for a new or reset key.
func NewNonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Key is the user's stream key for nonce.
func (k *Keys) Key(userID, nonce string) string {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(userID + "\x00" + nonce))
	return Prefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Hash is what the store keeps of a key, and looks it up by.
func Hash(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// Is reports whether a Bearer token is shaped as a stream key.
func Is(token string) bool { return strings.HasPrefix(token, Prefix) }
