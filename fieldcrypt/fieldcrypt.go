// Package fieldcrypt seals sensitive database fields (push tokens) at rest:
// AES-256-GCM under a key ring whose first key is current and whose older
// keys still open what they sealed, and a keyed hash (HMAC-SHA256) that
// stands in for the value where the database must look it up or keep it
// unique. It imports nothing of ours.
//
// A key ring is written "id:base64key,id:base64key" (DATA_ENCRYPTION_KEYS):
// ids of 1 to 32 letters, digits, '_' or '-', keys of 32 bytes in standard
// or URL-safe base64, padded or not. Each master key is never used itself:
// HKDF-SHA256 derives its cipher key and its hash key.
package fieldcrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// prefix marks a sealed value ("fc1:<key id>:<base64url nonce|ciphertext>"),
// so that it is never mistaken for a plaintext one.
const prefix = "fc1:"

var (
	// ErrUnknownKey: the value was sealed under a key the ring lacks.
	ErrUnknownKey = errors.New("fieldcrypt: sealed under a key that is not configured")
	// ErrCorrupt: the value is not sealed, or its key (of that id) is not
	// the one that sealed it, or it was changed.
	ErrCorrupt = errors.New("fieldcrypt: cannot open the value (a different key of that id, or altered)")
)

type key struct {
	id   string
	aead cipher.AEAD
	hash []byte
}

// Keyring holds the keys; safe for concurrent use.
type Keyring struct {
	keys []key // the current first
	byID map[string]*key
}

// Parse reads a key ring as DATA_ENCRYPTION_KEYS writes it.
func Parse(spec string) (*Keyring, error) {
	k := &Keyring{byID: map[string]*key{}}
	seen := map[string]bool{}
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		id, b64, found := strings.Cut(part, ":")
		if !found || !validID(id) {
			return nil, fmt.Errorf("fieldcrypt: key %d is not id:base64key (an id of 1 to 32 letters, digits, _ or -)", i+1)
		}
		if _, dup := seen[id]; dup {
			return nil, fmt.Errorf("fieldcrypt: key id %q is listed twice", id)
		}
		master, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("fieldcrypt: key %q: %w", id, err)
		}
		seen[id] = true
		kk, err := derive(id, master)
		if err != nil {
			return nil, err
		}
		k.keys = append(k.keys, kk)
	}
	for i := range k.keys {
		k.byID[k.keys[i].id] = &k.keys[i]
	}
	return k, nil
}

// Generate makes a ring of one fresh key, as Parse reads it.
func Generate(id string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return id + ":" + base64.StdEncoding.EncodeToString(b)
}

func validID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, fmt.Errorf("is %d bytes, want 32 (openssl rand -base64 32)", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("is not base64")
}

func derive(id string, master []byte) (key, error) {
	enc, err := hkdf.Key(sha256.New, master, nil, "chobi fieldcrypt v1 aes-256-gcm", 32)
	if err != nil {
		return key{}, err
	}
	hash, err := hkdf.Key(sha256.New, master, nil, "chobi fieldcrypt v1 hmac-sha256", 32)
	if err != nil {
		return key{}, err
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return key{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, err
	}
	return key{id: id, aead: aead, hash: hash}, nil
}

// CurrentID is the id of the key that seals.
func (k *Keyring) CurrentID() string { return k.keys[0].id }

// IDs lists the ring's key ids, the current first.
func (k *Keyring) IDs() []string {
	out := make([]string, len(k.keys))
	for i, kk := range k.keys {
		out[i] = kk.id
	}
	return out
}

// Seal encrypts plaintext under the current key with a fresh nonce. field
// names what the value is (additional data): a value sealed for one field
// does not open as another.
func (k *Keyring) Seal(field string, plaintext []byte) string {
	cur := &k.keys[0]
	nonce := make([]byte, cur.aead.NonceSize(), cur.aead.NonceSize()+len(plaintext)+cur.aead.Overhead())
	rand.Read(nonce)
	sealed := cur.aead.Seal(nonce, nonce, plaintext, []byte(field))
	return prefix + cur.id + ":" + base64.RawURLEncoding.EncodeToString(sealed)
}

// KeyID is the id of the key a sealed value was sealed under.
func KeyID(sealed string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	id, _, found := strings.Cut(rest, ":")
	if !ok || !found || !validID(id) {
		return "", ErrCorrupt
	}
	return id, nil
}

// Open decrypts what Seal sealed for field, under whichever of the ring's
// keys sealed it.
func (k *Keyring) Open(field, sealed string) ([]byte, error) {
	id, err := KeyID(sealed)
	if err != nil {
		return nil, err
	}
	kk := k.byID[id]
	if kk == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, id)
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed[len(prefix)+len(id)+1:])
	if err != nil || len(raw) < kk.aead.NonceSize() {
		return nil, ErrCorrupt
	}
	plain, err := kk.aead.Open(nil, raw[:kk.aead.NonceSize()], raw[kk.aead.NonceSize():], []byte(field))
	if err != nil {
		return nil, ErrCorrupt
	}
	return plain, nil
}

// Current reports whether sealed was sealed under the current key (else
// rotation seals it again).
func (k *Keyring) Current(sealed string) bool {
	id, err := KeyID(sealed)
	return err == nil && id == k.keys[0].id
}

// Hash is value's keyed hash for field under the current key, in hex: equal
// values hash equal, so the database can look one up or keep it unique
// without holding it.
func (k *Keyring) Hash(field, value string) string { return hashUnder(&k.keys[0], field, value) }

// Hashes is value's hash under every key, the current first: a value
// stored before a rotation finished is found under its older key's hash.
func (k *Keyring) Hashes(field, value string) []string {
	out := make([]string, len(k.keys))
	for i := range k.keys {
		out[i] = hashUnder(&k.keys[i], field, value)
	}
	return out
}

func hashUnder(kk *key, field, value string) string {
	m := hmac.New(sha256.New, kk.hash)
	m.Write([]byte(field))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}
