package appstore

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/economy/appstore/appstoretest"
)

const bundle = "live.chobi.app"

func testVerifier(t *testing.T, ca *appstoretest.CA, cfg Config) *Verifier {
	t.Helper()
	if cfg.BundleID == "" {
		cfg.BundleID = bundle
	}
	if cfg.Roots == nil {
		cfg.Roots = x509.NewCertPool()
		cfg.Roots.AddCert(ca.Root)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyValid(t *testing.T) {
	ca := appstoretest.NewCA(t)
	v := testVerifier(t, ca, Config{Production: true})
	tr := appstoretest.Consumable("2000000123", bundle, "coins_100")
	tr.Quantity = 3
	p, err := v.VerifyPurchase(context.Background(), economy.PurchaseProof{ProductID: "coins_100", SignedTransaction: ca.Sign(t, tr)})
	if err != nil {
		t.Fatal(err)
	}
	if p.TransactionID != "2000000123" || p.ProductID != "coins_100" || p.Quantity != 3 || p.Sandbox || p.PurchasedAt.UnixMilli() != tr.PurchaseDate {
		t.Fatalf("purchase %+v", p)
	}
	// Development takes sandbox purchases; production with APPLE_ALLOW_SANDBOX too.
	tr.Environment = "Sandbox"
	for _, cfg := range []Config{{}, {Production: true, AllowSandbox: true}} {
		p, err := testVerifier(t, ca, cfg).VerifyPurchase(context.Background(), economy.PurchaseProof{ProductID: "coins_100", SignedTransaction: ca.Sign(t, tr)})
		if err != nil || !p.Sandbox {
			t.Fatalf("sandbox with %+v: %+v %v", cfg, p, err)
		}
	}
}

// TestVerifyRefusals: each way a transaction can be wrong is refused with
// its own error, matching economy.ErrPaymentRejected.
func TestVerifyRefusals(t *testing.T) {
	ca := appstoretest.NewCA(t)
	other := appstoretest.NewCA(t) // another root altogether
	v := testVerifier(t, ca, Config{Production: true})
	good := appstoretest.Consumable("tx-1", bundle, "coins_100")
	signed := ca.Sign(t, good)
	parts := strings.Split(signed, ".")

	expired, expiredLeafKey := ca.IssueLeaf(t, ca.Intermediate, ca.IntermediateKey(), appstoretest.CertOptions{
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	plainLeaf, plainLeafKey := ca.IssueLeaf(t, ca.Intermediate, ca.IntermediateKey(), appstoretest.CertOptions{NoMarker: true})
	plainInter, plainInterKey := ca.IssueIntermediate(t, appstoretest.CertOptions{NoMarker: true})
	leafOfPlain, leafOfPlainKey := ca.IssueLeaf(t, plainInter, plainInterKey, appstoretest.CertOptions{})

	with := func(f func(*appstoretest.Transaction)) string {
		tr := good
		f(&tr)
		return ca.Sign(t, tr)
	}
	revoked := 0
	tamperedPayload := func() string {
		tr := good
		tr.Quantity = 100
		b, _ := json.Marshal(tr)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}()
	for name, c := range map[string]struct {
		signed string
		want   error
	}{
		"tampered payload":          {tamperedPayload, ErrSignature},
		"signature of another key":  {appstoretest.SignWith(t, good, other.LeafKey, ca.Leaf, ca.Intermediate, ca.Root), ErrSignature},
		"chain to another root":     {other.Sign(t, good), ErrChain},
		"another root's x5c":        {appstoretest.SignWith(t, good, other.LeafKey, other.Leaf, other.Intermediate, ca.Root), ErrChain},
		"expired signing cert":      {appstoretest.SignWith(t, good, expiredLeafKey, expired, ca.Intermediate, ca.Root), ErrChain},
		"leaf without Apple's OID":  {appstoretest.SignWith(t, good, plainLeafKey, plainLeaf, ca.Intermediate, ca.Root), ErrPurpose},
		"intermediate without OID":  {appstoretest.SignWith(t, good, leafOfPlainKey, leafOfPlain, plainInter, ca.Root), ErrPurpose},
		"no intermediate":           {appstoretest.SignWith(t, good, ca.LeafKey, ca.Leaf), ErrChain},
		"the root as intermediate":  {appstoretest.SignWith(t, good, ca.LeafKey, ca.Leaf, ca.Root), ErrChain},
		"another bundle":            {with(func(tr *appstoretest.Transaction) { tr.BundleID = "com.example.other" }), ErrBundle},
		"sandbox in production":     {with(func(tr *appstoretest.Transaction) { tr.Environment = "Sandbox" }), ErrEnvironment},
		"Xcode in production":       {with(func(tr *appstoretest.Transaction) { tr.Environment = "Xcode" }), ErrEnvironment},
		"unknown environment":       {with(func(tr *appstoretest.Transaction) { tr.Environment = "Staging" }), ErrEnvironment},
		"revoked":                   {with(func(tr *appstoretest.Transaction) { tr.RevocationDate = time.Now().UnixMilli() }), ErrRevoked},
		"revocation reason":         {with(func(tr *appstoretest.Transaction) { tr.RevocationReason = &revoked }), ErrRevoked},
		"a subscription":            {with(func(tr *appstoretest.Transaction) { tr.Type = "Auto-Renewable Subscription" }), ErrProduct},
		"another product":           {with(func(tr *appstoretest.Transaction) { tr.ProductID = "coins_5000" }), ErrProduct},
		"no transaction id":         {with(func(tr *appstoretest.Transaction) { tr.TransactionID = "" }), ErrMalformed},
		"signed in the future":      {with(func(tr *appstoretest.Transaction) { tr.SignedDate = time.Now().Add(time.Hour).UnixMilli() }), ErrMalformed},
		"two parts":                 {parts[0] + "." + parts[1], ErrMalformed},
		"alg none":                  {b64(`{"alg":"none","x5c":[]}`) + "." + parts[1] + ".", ErrMalformed},
		"alg HS256":                 {b64(`{"alg":"HS256"}`) + "." + parts[1] + "." + parts[2], ErrMalformed},
		"garbage":                   {"not a jws at all", ErrMalformed},
		"x5c not base64":            {b64(`{"alg":"ES256","x5c":["%%%","%%%"]}`) + "." + parts[1] + "." + parts[2], ErrChain},
		"short signature":           {parts[0] + "." + parts[1] + "." + b64("short"), ErrMalformed},
		"payload not a transaction": {appstoretest.SignRaw(t, []byte(`[1,2]`), ca.LeafKey, ca.Leaf, ca.Intermediate, ca.Root), ErrMalformed},
		"signed when the cert wasn't": {with(func(tr *appstoretest.Transaction) {
			tr.SignedDate = time.Now().Add(-2 * 365 * 24 * time.Hour).UnixMilli()
		}), ErrChain},
	} {
		_, err := v.VerifyPurchase(context.Background(), economy.PurchaseProof{ProductID: "coins_100", SignedTransaction: c.signed})
		if !errors.Is(err, c.want) || !errors.Is(err, economy.ErrPaymentRejected) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		} else if !strings.HasPrefix(err.Error(), "App Store purchase refused: ") {
			t.Errorf("%s: message %q", name, err)
		}
	}
	if _, err := v.VerifyPurchase(context.Background(), economy.PurchaseProof{ProductID: "coins_100", SignedTransaction: signed}); err != nil {
		t.Fatalf("the good transaction after all that: %v", err)
	}
	// The good chain is remembered now: a transaction it signed when its
	// certificates were not valid is still refused, by a new verifier too.
	old := with(func(tr *appstoretest.Transaction) {
		tr.SignedDate = time.Now().Add(-2 * 365 * 24 * time.Hour).UnixMilli()
	})
	for _, v := range []*Verifier{v, testVerifier(t, ca, Config{Production: true})} {
		if _, err := v.Verify(old); !errors.Is(err, ErrChain) {
			t.Fatalf("signed before the certificates: %v", err)
		}
	}
}

// TestAppleRoot: the embedded root is Apple Root CA - G3, by its published
// fingerprint, and Apple's real intermediate and App Store signing
// certificate (from Apple's App Store Server Library's tests) chain up to
// it with the markers this package checks, at a date they were valid.
func TestAppleRoot(t *testing.T) {
	blk, _ := pem.Decode(AppleRootG3PEM)
	if blk == nil {
		t.Fatal("no PEM")
	}
	sum := sha256.Sum256(blk.Bytes)
	if hex.EncodeToString(sum[:]) != AppleRootG3SHA256 {
		t.Fatalf("fingerprint %x", sum)
	}
	root, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || root.Subject.CommonName != "Apple Root CA - G3" {
		t.Fatalf("root %v %v", root.Subject, err)
	}
	pemChain, err := os.ReadFile("testdata/apple_real_chain.pem")
	if err != nil {
		t.Fatal(err)
	}
	certs, err := parsePEM(pemChain)
	if err != nil || len(certs) != 2 {
		t.Fatalf("real chain: %d certificates, %v", len(certs), err)
	}
	intermediate, leaf := certs[0], certs[1]
	v, err := New(Config{BundleID: bundle}) // the embedded root
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1761962975000) // October 2025
	if _, err := v.checkChain(leaf, intermediate, at); err != nil {
		t.Fatalf("Apple's real chain: %v", err)
	}
	if _, err := v.checkChain(leaf, intermediate, time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, ErrChain) {
		t.Fatalf("Apple's real chain in 2040: %v", err)
	}
	// Apple's leaf under a test root does not verify.
	ca := appstoretest.NewCA(t)
	if _, err := testVerifier(t, ca, Config{}).checkChain(leaf, intermediate, at); !errors.Is(err, ErrChain) {
		t.Fatalf("Apple's chain against a test root: %v", err)
	}
}

func TestLoadRoots(t *testing.T) {
	ca := appstoretest.NewCA(t)
	pool, err := LoadRoots(ca.RootFile(t))
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(Config{BundleID: bundle, Roots: pool})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ca.Sign(t, appstoretest.Consumable("t", bundle, "p"))); err != nil {
		t.Fatal(err)
	}
	// Apple's root does not vouch for the test chain.
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without a bundle id")
	}
	apple, _ := New(Config{BundleID: bundle})
	if _, err := apple.Verify(ca.Sign(t, appstoretest.Consumable("t", bundle, "p"))); !errors.Is(err, ErrChain) {
		t.Fatalf("a test chain against Apple's root: %v", err)
	}
	bad := t.TempDir() + "/bad.pem"
	os.WriteFile(bad, []byte("nothing here"), 0o600)
	if _, err := LoadRoots(bad); err == nil {
		t.Fatal("a file without a certificate was taken")
	}
	if _, err := LoadRoots(t.TempDir() + "/missing.pem"); err == nil {
		t.Fatal("a missing file was taken")
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// BenchmarkVerify: signed transactions verified per second (signature and
// chain), on every core.
//
// Run: go test ./economy/appstore -run '^$' -bench Verify
func BenchmarkVerify(b *testing.B) {
	ca := appstoretest.NewCA(b)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root)
	v, err := New(Config{BundleID: bundle, Roots: roots, Production: true})
	if err != nil {
		b.Fatal(err)
	}
	signed := ca.Sign(b, appstoretest.Consumable("tx", bundle, "coins_100"))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(signed); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
}
