package auth_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"
	"testing"
	"time"

	"github.com/chobilive/chobi/web/auth"
)

var secret = []byte("test-secret-0123456789abcdefghijklmnop")

// handMade signs header.payload, given as JSON text, with the secret.
func handMade(header, payload string, mac func() hash.Hash) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	h := hmac.New(mac, secret)
	h.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(h.Sum(nil))
}

func TestVerifyHandMadeTokens(t *testing.T) {
	tokens := auth.NewTokens(secret, time.Hour)
	now := time.Now().Unix()
	exp, past, future := now+3600, now-3600, now+1800
	const hs256 = `{"alg":"HS256","typ":"JWT"}`
	claims := func(extra string) string {
		return fmt.Sprintf(`{"sub":"u1","username":"alice","iss":"chobi","iat":%d%s}`, now, extra)
	}

	good := handMade(hs256, claims(fmt.Sprintf(`,"exp":%d`, exp)), sha256.New)
	if c, err := tokens.Verify(good); err != nil || c.UserID != "u1" || c.Username != "alice" {
		t.Fatalf("a well-formed token: %+v, %v", c, err)
	}
	issued, _, err := tokens.Issue(auth.Claims{UserID: "u2", Username: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := tokens.Verify(issued); err != nil || c.UserID != "u2" {
		t.Fatalf("an issued token: %+v, %v", c, err)
	}
	if _, err := tokens.Verify(handMade(hs256, claims(fmt.Sprintf(`,"exp":%d.5,"nbf":%d`, exp, past)), sha256.New)); err != nil {
		t.Errorf("fractional exp and a past nbf (both allowed by RFC 7519): %v", err)
	}

	refused := map[string]string{
		"exp as a string":          handMade(hs256, claims(fmt.Sprintf(`,"exp":"%d"`, exp)), sha256.New),
		"exp as null":              handMade(hs256, claims(`,"exp":null`), sha256.New),
		"exp as a boolean":         handMade(hs256, claims(`,"exp":true`), sha256.New),
		"nbf as a string":          handMade(hs256, claims(fmt.Sprintf(`,"exp":%d,"nbf":"%d"`, exp, past)), sha256.New),
		"iat as a string":          handMade(hs256, fmt.Sprintf(`{"sub":"u1","iat":"%d","exp":%d}`, now, exp), sha256.New),
		"iat as an object":         handMade(hs256, fmt.Sprintf(`{"sub":"u1","iat":{},"exp":%d}`, exp), sha256.New),
		"no exp":                   handMade(hs256, claims(""), sha256.New),
		"exp passed":               handMade(hs256, claims(fmt.Sprintf(`,"exp":%d`, past)), sha256.New),
		"nbf to come":              handMade(hs256, claims(fmt.Sprintf(`,"exp":%d,"nbf":%d`, exp, future)), sha256.New),
		"no subject":               handMade(hs256, fmt.Sprintf(`{"exp":%d}`, exp), sha256.New),
		"crit naming an extension": handMade(`{"alg":"HS256","typ":"JWT","crit":["urn:example:policy"],"urn:example:policy":"x"}`, claims(fmt.Sprintf(`,"exp":%d`, exp)), sha256.New),
		"crit naming exp":          handMade(`{"alg":"HS256","crit":["exp"]}`, claims(fmt.Sprintf(`,"exp":%d`, exp)), sha256.New),
		"crit empty":               handMade(`{"alg":"HS256","crit":[]}`, claims(fmt.Sprintf(`,"exp":%d`, exp)), sha256.New),
		"HS512 with the secret":    handMade(`{"alg":"HS512","typ":"JWT"}`, claims(fmt.Sprintf(`,"exp":%d`, exp)), sha512.New),
		"another secret":           strings.Replace(good, good[strings.LastIndexByte(good, '.')+1:], base64.RawURLEncoding.EncodeToString(make([]byte, 32)), 1),
	}
	refused["alg none"] = func() string {
		enc := base64.RawURLEncoding
		return enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + enc.EncodeToString([]byte(claims(fmt.Sprintf(`,"exp":%d`, exp)))) + "."
	}()
	for name, tok := range refused {
		if c, err := tokens.Verify(tok); err == nil {
			t.Errorf("%s: accepted as %+v", name, c)
		}
	}
}
