// Package appstore verifies App Store purchases offline: StoreKit 2's
// signedTransactionInfo, a JWS (ES256) whose x5c header carries the
// signing certificate and Apple's intermediate, checked up to Apple Root
// CA - G3 (embedded; a configured root replaces it) as Apple's own App
// Store Server Library does. It implements economy.StoreVerifier and knows
// nothing of HTTP or storage.
package appstore

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/chobilive/chobi/economy"
)

// AppleRootG3PEM is Apple Root CA - G3 (https://www.apple.com/certificateauthority/),
// whose SHA-256 fingerprint is AppleRootG3SHA256.
//
//go:embed AppleRootCA-G3.pem
var AppleRootG3PEM []byte

// AppleRootG3SHA256 is the fingerprint of Apple Root CA - G3's DER.
const AppleRootG3SHA256 = "63343abfb89a6a03ebb57e9b3f5fa7be7c4f5c756f3017b3a8c488c3653e9179"

// The marker extensions of Apple's certificates: the intermediate (Apple
// Worldwide Developer Relations CA) and the App Store's receipt-signing
// leaf.
var (
	OIDIntermediate = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 2, 1}
	OIDLeaf         = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 6, 11, 1}
)

// Errors: every refusal wraps economy.ErrPaymentRejected and one of these.
var (
	ErrMalformed   = errors.New("the signed transaction is not a StoreKit JWS")
	ErrSignature   = errors.New("the signed transaction's signature does not verify")
	ErrChain       = errors.New("the signing certificate does not lead to the App Store's root")
	ErrPurpose     = errors.New("a certificate of the chain is not Apple's App Store signing certificate")
	ErrBundle      = errors.New("the transaction is for another app")
	ErrEnvironment = errors.New("the transaction is from another App Store environment")
	ErrRevoked     = errors.New("the transaction was refunded or revoked")
	ErrProduct     = errors.New("the transaction is not of a product sold here")
)

// Config configures a Verifier.
type Config struct {
	// BundleID is the app's bundle id; transactions of other apps are
	// refused. Required.
	BundleID string
	// Roots are the trusted roots: Apple Root CA - G3 when nil.
	Roots *x509.CertPool
	// Production takes only transactions of the Production environment,
	// unless AllowSandbox; development takes Sandbox ones as well.
	Production   bool
	AllowSandbox bool
	// Now is the clock (time.Now when nil): a transaction signed more than
	// a few minutes in its future is refused.
	Now func() time.Time
}

// Verifier checks StoreKit 2 signed transactions. Safe for concurrent use.
type Verifier struct {
	cfg Config

	mu     sync.Mutex
	chains map[string]knownChain
}

var _ economy.StoreVerifier = (*Verifier)(nil)

// New makes a Verifier.
func New(cfg Config) (*Verifier, error) {
	if strings.TrimSpace(cfg.BundleID) == "" {
		return nil, errors.New("appstore: a bundle id is required")
	}
	if cfg.Roots == nil {
		roots, err := AppleRoots()
		if err != nil {
			return nil, err
		}
		cfg.Roots = roots
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg}, nil
}

// AppleRoots is a pool holding the embedded Apple Root CA - G3, checked
// against its fingerprint.
func AppleRoots() (*x509.CertPool, error) {
	certs, err := parsePEM(AppleRootG3PEM)
	if err != nil || len(certs) != 1 {
		return nil, fmt.Errorf("appstore: the embedded Apple root: %v", err)
	}
	if sum := sha256.Sum256(certs[0].Raw); hex.EncodeToString(sum[:]) != AppleRootG3SHA256 {
		return nil, errors.New("appstore: the embedded Apple root does not have Apple Root CA - G3's fingerprint")
	}
	pool := x509.NewCertPool()
	pool.AddCert(certs[0])
	return pool, nil
}

// LoadRoots reads trusted roots from a PEM (or DER) file, for
// APPLE_ROOT_CA_PATH.
func LoadRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("appstore: %w", err)
	}
	var certs []*x509.Certificate
	if bytes.Contains(b, []byte("-----BEGIN")) {
		certs, err = parsePEM(b)
	} else {
		certs, err = x509.ParseCertificates(b)
	}
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("appstore: %s holds no certificate: %v", path, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// Transaction is the decoded payload of a signed transaction (the fields
// of Apple's JWSTransactionDecodedPayload this server reads).
type Transaction struct {
	TransactionID         string `json:"transactionId"`
	OriginalTransactionID string `json:"originalTransactionId"`
	BundleID              string `json:"bundleId"`
	ProductID             string `json:"productId"`
	Type                  string `json:"type"`
	Quantity              int64  `json:"quantity"`
	Environment           string `json:"environment"`
	PurchaseDate          int64  `json:"purchaseDate"` // unix milliseconds
	SignedDate            int64  `json:"signedDate"`
	RevocationDate        int64  `json:"revocationDate"`
	RevocationReason      *int   `json:"revocationReason"`
	AppAccountToken       string `json:"appAccountToken"`
}

// maxFutureSkew is how far past the server's clock a transaction may say
// it was signed.
const maxFutureSkew = 5 * time.Minute

// Verify checks a signed transaction and returns its payload: the header
// names ES256 and an x5c chain whose leaf signed header and payload, the
// chain reaches a trusted root at the transaction's signedDate (the
// validity the App Store Server Library checks offline), the intermediate
// and the leaf carry Apple's marker extensions, and the transaction is for
// this app, from an environment allowed here, and not revoked.
func (v *Verifier) Verify(signed string) (Transaction, error) {
	var tr Transaction
	parts := strings.Split(strings.TrimSpace(signed), ".")
	if len(parts) != 3 {
		return tr, reject(ErrMalformed, "it has %d parts, not 3", len(parts))
	}
	var header struct {
		Alg string   `json:"alg"`
		X5C []string `json:"x5c"`
	}
	headerJSON, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(headerJSON, &header) != nil {
		return tr, reject(ErrMalformed, "its header is not base64url JSON")
	}
	if header.Alg != "ES256" {
		return tr, reject(ErrMalformed, "its algorithm is %q, not ES256", header.Alg)
	}
	if len(header.X5C) < 2 || len(header.X5C) > 3 {
		return tr, reject(ErrChain, "the x5c header holds %d certificates, not the leaf, the intermediate and the root", len(header.X5C))
	}
	payloadJSON, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return tr, reject(ErrMalformed, "its payload is not base64url")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return tr, reject(ErrMalformed, "its signature is not 64 bytes of base64url")
	}
	chainKey := header.X5C[0] + "|" + header.X5C[1]
	known, cached := v.chainCache(chainKey)
	var leaf, intermediate *x509.Certificate
	if !cached {
		certs := make([]*x509.Certificate, 2)
		for i := range certs {
			der, err := base64.StdEncoding.DecodeString(header.X5C[i])
			if err != nil {
				return tr, reject(ErrChain, "x5c certificate %d is not base64", i)
			}
			if certs[i], err = x509.ParseCertificate(der); err != nil {
				return tr, reject(ErrChain, "x5c certificate %d: %v", i, err)
			}
		}
		leaf, intermediate = certs[0], certs[1]
		known.pub, _ = leaf.PublicKey.(*ecdsa.PublicKey)
	}

	// The signature first, with the leaf's key: nothing of the payload is
	// believed before it verifies.
	pub := known.pub
	if pub == nil || pub.Curve != elliptic.P256() {
		return tr, reject(ErrSignature, "the signing certificate's key is not an ECDSA P-256 key")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return tr, reject(ErrSignature, "")
	}
	dec := json.NewDecoder(bytes.NewReader(payloadJSON))
	if err := dec.Decode(&tr); err != nil {
		return Transaction{}, reject(ErrMalformed, "its payload is not a transaction: %v", err)
	}
	if tr.TransactionID == "" || tr.SignedDate <= 0 {
		return Transaction{}, reject(ErrMalformed, "its payload has no transactionId or signedDate")
	}
	signedAt := time.UnixMilli(tr.SignedDate)
	if signedAt.After(v.cfg.Now().Add(maxFutureSkew)) {
		return Transaction{}, reject(ErrMalformed, "it says it was signed at %s, in the future", signedAt.UTC().Format(time.RFC3339))
	}

	if !cached || signedAt.Before(known.from) || signedAt.After(known.until) {
		if leaf == nil {
			return Transaction{}, reject(ErrChain, "signed at %s, outside its certificates' validity (%s to %s)",
				signedAt.UTC().Format(time.RFC3339), known.from.UTC().Format(time.RFC3339), known.until.UTC().Format(time.RFC3339))
		}
		chain, err := v.checkChain(leaf, intermediate, signedAt)
		if err != nil {
			return Transaction{}, err
		}
		v.remember(chainKey, chain)
	}

	if tr.BundleID != v.cfg.BundleID {
		return Transaction{}, reject(ErrBundle, "bundle id %q, not %q", tr.BundleID, v.cfg.BundleID)
	}
	switch tr.Environment {
	case "Production":
	case "Sandbox", "Xcode", "LocalTesting":
		if v.cfg.Production && !v.cfg.AllowSandbox {
			return Transaction{}, reject(ErrEnvironment, "a %s transaction, and this server takes Production ones only (APPLE_ALLOW_SANDBOX)", tr.Environment)
		}
	default:
		return Transaction{}, reject(ErrEnvironment, "unknown environment %q", tr.Environment)
	}
	if tr.RevocationDate > 0 || tr.RevocationReason != nil {
		return Transaction{}, reject(ErrRevoked, "revoked at %s", time.UnixMilli(tr.RevocationDate).UTC().Format(time.RFC3339))
	}
	if tr.Type != "" && tr.Type != "Consumable" {
		return Transaction{}, reject(ErrProduct, "a %s, and coins are consumables", tr.Type)
	}
	if tr.Quantity == 0 {
		tr.Quantity = 1
	}
	return tr, nil
}

// checkChain checks the signing certificate's chain at the time it signed:
// leaf → the x5c intermediate → a trusted root, each valid then, the
// intermediate and the leaf with Apple's marker extensions.
func (v *Verifier) checkChain(leaf, intermediate *x509.Certificate, at time.Time) ([]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	inter.AddCert(intermediate)
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots: v.cfg.Roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, reject(ErrChain, "%v", err)
	}
	var chain []*x509.Certificate
	for _, c := range chains {
		// Apple signs with no other shape of chain.
		if len(c) == 3 && c[1].Equal(intermediate) {
			chain = c
		}
	}
	if chain == nil {
		return nil, reject(ErrChain, "the chain is not the leaf, the x5c intermediate and a trusted root")
	}
	if !hasExtension(intermediate, OIDIntermediate) {
		return nil, reject(ErrPurpose, "the intermediate lacks Apple's marker %s", OIDIntermediate)
	}
	if !hasExtension(leaf, OIDLeaf) {
		return nil, reject(ErrPurpose, "the signing certificate lacks Apple's marker %s", OIDLeaf)
	}
	return chain, nil
}

// A checked chain, remembered by its x5c certificates: the same signing
// certificate signs every transaction for months, and checking its chain
// (two P-384 signatures) costs several times the transaction's own
// signature. What x509 verification depends on besides the certificates
// and the roots, which do not change, is only the time: a transaction
// signed while all three certificates are valid has a valid chain.
type knownChain struct {
	pub         *ecdsa.PublicKey
	from, until time.Time // every certificate of the chain valid between
}

// maxKnownChains bounds the remembered chains (forgotten all at once past it).
const maxKnownChains = 64

func (v *Verifier) chainCache(key string) (knownChain, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	k, ok := v.chains[key]
	return k, ok
}

func (v *Verifier) remember(key string, chain []*x509.Certificate) {
	k := knownChain{pub: chain[0].PublicKey.(*ecdsa.PublicKey), from: chain[0].NotBefore, until: chain[0].NotAfter}
	for _, c := range chain[1:] {
		if c.NotBefore.After(k.from) {
			k.from = c.NotBefore
		}
		if c.NotAfter.Before(k.until) {
			k.until = c.NotAfter
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.chains == nil || len(v.chains) >= maxKnownChains {
		v.chains = map[string]knownChain{}
	}
	v.chains[key] = k
}

// VerifyPurchase implements economy.StoreVerifier.
func (v *Verifier) VerifyPurchase(_ context.Context, p economy.PurchaseProof) (economy.StorePurchase, error) {
	tr, err := v.Verify(p.SignedTransaction)
	if err != nil {
		return economy.StorePurchase{}, err
	}
	if tr.ProductID != p.ProductID {
		return economy.StorePurchase{}, reject(ErrProduct, "the transaction is of %q, not %q", tr.ProductID, p.ProductID)
	}
	return economy.StorePurchase{
		TransactionID: tr.TransactionID, ProductID: tr.ProductID, Quantity: tr.Quantity,
		Sandbox: tr.Environment != "Production", PurchasedAt: time.UnixMilli(tr.PurchaseDate),
	}, nil
}

func hasExtension(c *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oid) {
			return true
		}
	}
	return false
}

func parsePEM(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

// rejection is a refusal: it matches economy.ErrPaymentRejected and its kind.
type rejection struct {
	kind   error
	detail string
}

func (r *rejection) Error() string {
	if r.detail == "" {
		return "App Store purchase refused: " + r.kind.Error()
	}
	return "App Store purchase refused: " + r.kind.Error() + ": " + r.detail
}

func (r *rejection) Is(target error) bool {
	return target == r.kind || target == economy.ErrPaymentRejected
}

func reject(kind error, format string, args ...any) error {
	return &rejection{kind: kind, detail: fmt.Sprintf(format, args...)}
}
