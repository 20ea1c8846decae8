package fieldcrypt_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/chobilive/chobi/fieldcrypt"
)

func ring(t *testing.T, spec string) *fieldcrypt.Keyring {
	t.Helper()
	k, err := fieldcrypt.Parse(spec)
	if err != nil {
		t.Fatalf("parse %q: %v", spec, err)
	}
	return k
}

const (
	k1 = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // bytes 0..31
	k2 = "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8"  // bytes 32..63, unpadded
)

// A sealed value holds no plaintext, differs each time (fresh nonce), opens
// under the ring, and only as the field it was sealed for.
func TestSealOpens(t *testing.T) {
	k := ring(t, k1)
	secret := "ExponentPushToken[abcdefghijklmnop]"
	a, b := k.Seal("push_token", []byte(secret)), k.Seal("push_token", []byte(secret))
	if a == b || strings.Contains(a, "abcdefghijklmnop") || !strings.HasPrefix(a, "fc1:k1:") {
		t.Fatalf("sealed %q and %q", a, b)
	}
	for _, s := range []string{a, b} {
		got, err := k.Open("push_token", s)
		if err != nil || string(got) != secret {
			t.Fatalf("open: %q, %v", got, err)
		}
	}
	if _, err := k.Open("email", a); !errors.Is(err, fieldcrypt.ErrCorrupt) {
		t.Fatalf("opened as another field: %v", err)
	}
	tampered := a[:len(a)-2] + "AA"
	if _, err := k.Open("push_token", tampered); !errors.Is(err, fieldcrypt.ErrCorrupt) {
		t.Fatalf("an altered value: %v", err)
	}
	for _, notSealed := range []string{"", secret, "fc1:", "fc1:k1:", "fc1:k1:!!"} {
		if _, err := k.Open("push_token", notSealed); !errors.Is(err, fieldcrypt.ErrCorrupt) {
			t.Errorf("open %q: %v, want ErrCorrupt", notSealed, err)
		}
	}
}

// Rotation: a new ring with a new current key still opens the old key's
// values, seals under the new one, and finds an old value by its old hash.
// A ring without the old key, or with another key of its id, refuses it.
func TestRotation(t *testing.T) {
	old := ring(t, k1)
	sealed := old.Seal("push_token", []byte("token-1"))
	oldHash := old.Hash("push_token", "token-1")

	both := ring(t, k2+","+k1)
	if both.CurrentID() != "k2" || strings.Join(both.IDs(), ",") != "k2,k1" {
		t.Fatalf("ids %v", both.IDs())
	}
	if got, err := both.Open("push_token", sealed); err != nil || string(got) != "token-1" {
		t.Fatalf("the new ring opens the old value: %q, %v", got, err)
	}
	if both.Current(sealed) {
		t.Fatal("a k1 value counted as current under k2")
	}
	resealed := both.Seal("push_token", []byte("token-1"))
	if !both.Current(resealed) || !strings.HasPrefix(resealed, "fc1:k2:") {
		t.Fatalf("resealed %q", resealed)
	}
	hashes := both.Hashes("push_token", "token-1")
	if len(hashes) != 2 || hashes[0] != both.Hash("push_token", "token-1") || hashes[1] != oldHash || hashes[0] == oldHash {
		t.Fatalf("hashes %v, old %s", hashes, oldHash)
	}
	if both.Hash("push_token", "token-1") != ring(t, k2).Hash("push_token", "token-1") {
		t.Fatal("a hash depends on more than its key")
	}
	if both.Hash("push_token", "token-2") == both.Hash("push_token", "token-1") || both.Hash("email", "token-1") == hashes[0] {
		t.Fatal("hashes collide across values or fields")
	}

	if _, err := ring(t, k2).Open("push_token", sealed); !errors.Is(err, fieldcrypt.ErrUnknownKey) {
		t.Fatalf("without k1: %v, want ErrUnknownKey", err)
	}
	impostor := ring(t, "k1:"+strings.Repeat("A", 43)+"=")
	if _, err := impostor.Open("push_token", sealed); !errors.Is(err, fieldcrypt.ErrCorrupt) {
		t.Fatalf("another key named k1: %v, want ErrCorrupt", err)
	}
	if id, err := fieldcrypt.KeyID(sealed); err != nil || id != "k1" {
		t.Fatalf("KeyID %q, %v", id, err)
	}
}

func TestParseRefusesBadRings(t *testing.T) {
	for _, spec := range []string{
		"", "k1", ":" + k1[3:], "k1:", "k1:not base64!", "k1:AAAA",
		"bad id:" + k1[3:], strings.Repeat("x", 33) + ":" + k1[3:],
		k1 + "," + k1, k1 + ",",
	} {
		if _, err := fieldcrypt.Parse(spec); err == nil {
			t.Errorf("parse %q: no error", spec)
		} else if strings.Contains(err.Error(), k1[3:]) {
			t.Errorf("parse %q: the error shows the key: %v", spec, err)
		}
	}
	g := fieldcrypt.Generate("dev")
	k := ring(t, g)
	if k.CurrentID() != "dev" || g == fieldcrypt.Generate("dev") {
		t.Fatalf("generated %q", g)
	}
}
