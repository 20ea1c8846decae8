// Package appstoretest makes StoreKit 2 signed transactions for tests: a
// root, an intermediate and a signing certificate of its own, built like
// Apple's (the marker extensions, ECDSA P-256/P-384), and transactions
// signed with them. Tests trust its root instead of Apple's (the
// APPLE_ROOT_CA_PATH setting, or appstore.Config.Roots).
package appstoretest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// OIDs of Apple's marker extensions (as in package appstore).
var (
	oidIntermediate = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 2, 1}
	oidLeaf         = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 11, 1}
)

// CA is a test App Store: a root, an intermediate and a leaf that signs.
type CA struct {
	Root, Intermediate, Leaf *x509.Certificate
	rootKey, interKey        *ecdsa.PrivateKey
	LeafKey                  *ecdsa.PrivateKey
}

// CertOptions shape a certificate that NewCA or Issue makes.
type CertOptions struct {
	NotBefore, NotAfter time.Time // a year around now when zero
	NoMarker            bool      // leave Apple's marker extension out
}

// NewCA makes a root, an intermediate and a leaf, valid from a year ago to
// a year ahead, with Apple's markers.
func NewCA(t testing.TB) *CA {
	t.Helper()
	ca := &CA{}
	ca.rootKey = key(t, elliptic.P384())
	ca.Root = create(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "Test Root CA - G3", Organization: []string{"Chobi tests"}},
		IsCA:    true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, CertOptions{}, nil, &ca.rootKey.PublicKey, ca.rootKey)
	ca.Intermediate, ca.interKey = ca.IssueIntermediate(t, CertOptions{})
	ca.Leaf, ca.LeafKey = ca.IssueLeaf(t, ca.Intermediate, ca.interKey, CertOptions{})
	return ca
}

// IssueIntermediate makes another intermediate under the root.
func (ca *CA) IssueIntermediate(t testing.TB, o CertOptions) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	k := key(t, elliptic.P384())
	tmpl := &x509.Certificate{
		Subject: pkix.Name{CommonName: "Test Worldwide Developer Relations CA", OrganizationalUnit: []string{"G6"}},
		IsCA:    true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	if !o.NoMarker {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidIntermediate, Value: []byte{0x05, 0x00}}}
	}
	return create(t, tmpl, o, ca.Root, &k.PublicKey, ca.rootKey), k
}

// IssueLeaf makes a signing certificate under parent (signed with its key).
func (ca *CA) IssueLeaf(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, o CertOptions) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	k := key(t, elliptic.P256())
	tmpl := &x509.Certificate{
		Subject:  pkix.Name{CommonName: "Test ECC App Store Receipt Signing"},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if !o.NoMarker {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidLeaf, Value: []byte{0x05, 0x00}}}
	}
	return create(t, tmpl, o, parent, &k.PublicKey, parentKey), k
}

// IntermediateKey is the intermediate's key, to issue other leaves.
func (ca *CA) IntermediateKey() *ecdsa.PrivateKey { return ca.interKey }

// RootPEM is the root as PEM.
func (ca *CA) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Root.Raw})
}

// RootFile writes the root to a PEM file in the test's temporary folder.
func (ca *CA) RootFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test-root.pem")
	if err := os.WriteFile(path, ca.RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Transaction is a payload to sign (the fields of Apple's
// JWSTransactionDecodedPayload that matter here; zero ones are left out).
type Transaction struct {
	TransactionID         string `json:"transactionId,omitempty"`
	OriginalTransactionID string `json:"originalTransactionId,omitempty"`
	BundleID              string `json:"bundleId,omitempty"`
	ProductID             string `json:"productId,omitempty"`
	Type                  string `json:"type,omitempty"`
	Quantity              int64  `json:"quantity,omitempty"`
	Environment           string `json:"environment,omitempty"`
	PurchaseDate          int64  `json:"purchaseDate,omitempty"`
	SignedDate            int64  `json:"signedDate,omitempty"`
	RevocationDate        int64  `json:"revocationDate,omitempty"`
	RevocationReason      *int   `json:"revocationReason,omitempty"`
}

// Consumable is a valid production purchase of productID, signed now.
func Consumable(transactionID, bundleID, productID string) Transaction {
	now := time.Now().UnixMilli()
	return Transaction{
		TransactionID: transactionID, OriginalTransactionID: transactionID, BundleID: bundleID, ProductID: productID,
		Type: "Consumable", Quantity: 1, Environment: "Production", PurchaseDate: now - 1000, SignedDate: now,
	}
}

// Sign signs tr with the leaf, x5c carrying the leaf, the intermediate and
// the root, as the App Store does.
func (ca *CA) Sign(t testing.TB, tr Transaction) string {
	t.Helper()
	return SignWith(t, tr, ca.LeafKey, ca.Leaf, ca.Intermediate, ca.Root)
}

// SignWith signs tr with key, x5c carrying chain.
func SignWith(t testing.TB, tr Transaction, key *ecdsa.PrivateKey, chain ...*x509.Certificate) string {
	t.Helper()
	payload, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	return SignRaw(t, payload, key, chain...)
}

// SignRaw signs any payload.
func SignRaw(t testing.TB, payload []byte, key *ecdsa.PrivateKey, chain ...*x509.Certificate) string {
	t.Helper()
	x5c := make([]string, len(chain))
	for i, c := range chain {
		x5c[i] = base64.StdEncoding.EncodeToString(c.Raw)
	}
	header, err := json.Marshal(map[string]any{"alg": "ES256", "x5c": x5c})
	if err != nil {
		t.Fatal(err)
	}
	input := b64(header) + "." + b64(payload)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func key(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var serial atomic.Int64

func create(t testing.TB, tmpl *x509.Certificate, o CertOptions, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(serial.Add(1))
	tmpl.NotBefore, tmpl.NotAfter = o.NotBefore, o.NotAfter
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-365 * 24 * time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
