// Package googleplay verifies Google Play purchases with the Play Developer
// API: purchases.products.get for the purchase token, then :consume once
// the coins are credited, authorised by a service account through the
// OAuth 2 JWT bearer flow (RFC 7523). It implements economy.StoreVerifier
// and economy.StoreFinisher.
package googleplay

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chobilive/chobi/economy"
)

// Defaults of Config's URLs and scope.
const (
	DefaultAPIURL   = "https://androidpublisher.googleapis.com"
	DefaultTokenURL = "https://oauth2.googleapis.com/token"
	Scope           = "https://www.googleapis.com/auth/androidpublisher"
	DefaultTimeout  = 10 * time.Second
)

// Errors. A refusal wraps economy.ErrPaymentRejected (or
// economy.ErrPurchasePending) and one of these; a store that could not tell
// wraps economy.ErrStoreUnreachable.
var (
	ErrCancelled = errors.New("the purchase was cancelled")
	ErrToken     = errors.New("the purchase token is not a purchase of this app")
	ErrProduct   = errors.New("the purchase is of another product")
)

// ServiceAccount is the part of a service account's JSON key used here.
type ServiceAccount struct {
	ClientEmail  string `json:"client_email"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"` // PEM, PKCS #8 (or #1) RSA
	TokenURI     string `json:"token_uri"`
	key          *rsa.PrivateKey
}

// LoadServiceAccount reads a service account's JSON key file.
func LoadServiceAccount(path string) (*ServiceAccount, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("googleplay: %w", err)
	}
	return ParseServiceAccount(b)
}

// ParseServiceAccount reads a service account's JSON key.
func ParseServiceAccount(b []byte) (*ServiceAccount, error) {
	var sa ServiceAccount
	if err := json.Unmarshal(b, &sa); err != nil {
		return nil, fmt.Errorf("googleplay: the service account key is not JSON: %w", err)
	}
	if sa.ClientEmail == "" || sa.PrivateKey == "" {
		return nil, errors.New("googleplay: the service account key has no client_email or private_key")
	}
	blk, _ := pem.Decode([]byte(sa.PrivateKey))
	if blk == nil {
		return nil, errors.New("googleplay: the service account's private_key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		if k1, err1 := x509.ParsePKCS1PrivateKey(blk.Bytes); err1 == nil {
			k, err = k1, nil
		}
	}
	rk, ok := k.(*rsa.PrivateKey)
	if err != nil || !ok {
		return nil, fmt.Errorf("googleplay: the service account's private_key is not an RSA key: %v", err)
	}
	sa.key = rk
	return &sa, nil
}

// Config configures a Verifier.
type Config struct {
	Account     *ServiceAccount // required
	PackageName string          // the app's package name; required
	APIURL      string          // DefaultAPIURL when empty
	TokenURL    string          // the key's token_uri, else DefaultTokenURL
	HTTP        *http.Client    // one with DefaultTimeout when nil
	Now         func() time.Time
}

// Verifier asks Google Play about purchases. Safe for concurrent use.
type Verifier struct {
	cfg Config

	mu      sync.Mutex
	token   string
	expires time.Time
}

var (
	_ economy.StoreVerifier = (*Verifier)(nil)
	_ economy.StoreFinisher = (*Verifier)(nil)
)

// New makes a Verifier.
func New(cfg Config) (*Verifier, error) {
	if cfg.Account == nil || cfg.Account.key == nil {
		return nil, errors.New("googleplay: a service account key is required")
	}
	if cfg.PackageName == "" {
		return nil, errors.New("googleplay: a package name is required")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	if cfg.TokenURL == "" {
		cfg.TokenURL = cfg.Account.TokenURI
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = DefaultTokenURL
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg}, nil
}

// ProductPurchase is the Play Developer API's answer (the fields read here).
type ProductPurchase struct {
	Kind                 string `json:"kind"`
	PurchaseTimeMillis   string `json:"purchaseTimeMillis"`
	PurchaseState        *int   `json:"purchaseState"`    // 0 purchased, 1 cancelled, 2 pending
	ConsumptionState     int    `json:"consumptionState"` // 0 yet to be consumed, 1 consumed
	AcknowledgementState int    `json:"acknowledgementState"`
	OrderID              string `json:"orderId"`
	PurchaseType         *int   `json:"purchaseType"` // absent: a real purchase; 0 a test one
	ProductID            string `json:"productId"`
	Quantity             int64  `json:"quantity"`
	PurchaseToken        string `json:"purchaseToken"`
}

// VerifyPurchase implements economy.StoreVerifier: purchases.products.get,
// then the checks: purchased (not cancelled, not pending), of the product
// asked for. A consumed purchase is returned as such (the economy credits
// it only if it credited it before).
func (v *Verifier) VerifyPurchase(ctx context.Context, p economy.PurchaseProof) (economy.StorePurchase, error) {
	pp, err := v.get(ctx, p.ProductID, p.PurchaseToken)
	if err != nil {
		return economy.StorePurchase{}, err
	}
	switch {
	case pp.PurchaseState == nil:
		return economy.StorePurchase{}, unreachable("the Play API's answer has no purchaseState")
	case *pp.PurchaseState == 1:
		return economy.StorePurchase{}, reject(ErrCancelled, "")
	case *pp.PurchaseState == 2:
		return economy.StorePurchase{}, fmt.Errorf("%w (Google Play)", economy.ErrPurchasePending)
	case *pp.PurchaseState != 0:
		return economy.StorePurchase{}, reject(ErrCancelled, "purchaseState %d", *pp.PurchaseState)
	}
	if pp.ProductID != "" && pp.ProductID != p.ProductID {
		return economy.StorePurchase{}, reject(ErrProduct, "%q, not %q", pp.ProductID, p.ProductID)
	}
	sp := economy.StorePurchase{TransactionID: pp.OrderID, ProductID: p.ProductID, Quantity: pp.Quantity,
		Sandbox: pp.PurchaseType != nil && *pp.PurchaseType == 0, Consumed: pp.ConsumptionState == 1}
	if sp.TransactionID == "" {
		// Test purchases may come without an order id: the token names the purchase.
		sum := sha256.Sum256([]byte(p.PurchaseToken))
		sp.TransactionID = "token-" + hex.EncodeToString(sum[:16])
	}
	if sp.Quantity == 0 {
		sp.Quantity = 1
	}
	if ms, err := strconv.ParseInt(pp.PurchaseTimeMillis, 10, 64); err == nil {
		sp.PurchasedAt = time.UnixMilli(ms)
	}
	return sp, nil
}

// FinishPurchase implements economy.StoreFinisher: purchases.products.consume.
// A consume that fails because the purchase is consumed already (a request
// racing this one did it) is done.
func (v *Verifier) FinishPurchase(ctx context.Context, p economy.PurchaseProof, _ economy.StorePurchase) error {
	_, err := v.call(ctx, http.MethodPost, v.purchaseURL(p.ProductID, p.PurchaseToken)+":consume", false)
	if err == nil {
		return nil
	}
	if pp, gerr := v.get(ctx, p.ProductID, p.PurchaseToken); gerr == nil && pp.ConsumptionState == 1 {
		return nil
	}
	return err
}

func (v *Verifier) purchaseURL(productID, token string) string {
	return v.cfg.APIURL + "/androidpublisher/v3/applications/" + url.PathEscape(v.cfg.PackageName) +
		"/purchases/products/" + url.PathEscape(productID) + "/tokens/" + url.PathEscape(token)
}

func (v *Verifier) get(ctx context.Context, productID, token string) (ProductPurchase, error) {
	var pp ProductPurchase
	body, err := v.call(ctx, http.MethodGet, v.purchaseURL(productID, token), true)
	if err != nil {
		return pp, err
	}
	if err := json.Unmarshal(body, &pp); err != nil {
		return pp, unreachable("the Play API's answer is not a purchase: %v", err)
	}
	if pp.Kind != "" && pp.Kind != "androidpublisher#productPurchase" {
		return pp, unreachable("the Play API answered a %q, not a product purchase", pp.Kind)
	}
	return pp, nil
}

// call sends an authorised request to the Play API. 400 (a token the API
// does not take for this package and product) is a refusal; 401 and 403
// drop the access token; they, 404 (a purchase not visible yet), 429, 5xx
// and transport errors are the store not telling now.
func (v *Verifier) call(ctx context.Context, method, u string, read bool) ([]byte, error) {
	tok, err := v.accessToken(ctx)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, unreachable("%v", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.HTTP.Do(req)
	if err != nil {
		return nil, unreachable("the Play API: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, unreachable("the Play API's answer: %v", err)
	}
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent:
		return body, nil
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusGone:
		return nil, reject(ErrToken, "the Play API answered %d: %s", resp.StatusCode, apiMessage(body))
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		v.mu.Lock()
		v.token = ""
		v.mu.Unlock()
	}
	return nil, unreachable("the Play API answered %d: %s", resp.StatusCode, apiMessage(body))
}

// accessToken is a cached access token, renewed a minute before it expires
// through the JWT bearer flow.
func (v *Verifier) accessToken(ctx context.Context) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.cfg.Now()
	if v.token != "" && now.Before(v.expires.Add(-time.Minute)) {
		return v.token, nil
	}
	assertion, err := v.assertion(now)
	if err != nil {
		return "", unreachable("%v", err)
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", unreachable("%v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := v.cfg.HTTP.Do(req)
	if err != nil {
		return "", unreachable("Google's token endpoint: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out struct {
		AccessToken      string `json:"access_token"`
		ExpiresIn        int64  `json:"expires_in"`
		TokenType        string `json:"token_type"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	json.Unmarshal(body, &out)
	if resp.StatusCode != http.StatusOK || out.AccessToken == "" || !strings.EqualFold(out.TokenType, "Bearer") {
		return "", unreachable("Google's token endpoint answered %d %s %s", resp.StatusCode, out.Error, out.ErrorDescription)
	}
	if out.ExpiresIn <= 0 {
		out.ExpiresIn = 3600
	}
	v.token, v.expires = out.AccessToken, now.Add(time.Duration(out.ExpiresIn)*time.Second)
	return v.token, nil
}

// assertion is the signed JWT (RS256) the token endpoint exchanges for an
// access token: the service account as issuer, the token URL as audience,
// the Play API's scope, valid an hour.
func (v *Verifier) assertion(now time.Time) (string, error) {
	header := map[string]string{"alg": "RS256", "typ": "JWT"}
	if v.cfg.Account.PrivateKeyID != "" {
		header["kid"] = v.cfg.Account.PrivateKeyID
	}
	claims := map[string]any{"iss": v.cfg.Account.ClientEmail, "scope": Scope, "aud": v.cfg.TokenURL,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := b64(h) + "." + b64(c)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, v.cfg.Account.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// apiMessage is the message of a Google API error body, or its start.
func apiMessage(body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	body = bytes.TrimSpace(body)
	if len(body) > 200 {
		body = body[:200]
	}
	return string(body)
}

type storeError struct {
	kind   error // ErrCancelled, ...; nil for the store not telling
	detail string
}

func (e *storeError) Error() string {
	switch {
	case e.kind == nil:
		return "Google Play could not confirm the purchase now, try again: " + e.detail
	case e.detail == "":
		return "Google Play purchase refused: " + e.kind.Error()
	}
	return "Google Play purchase refused: " + e.kind.Error() + ": " + e.detail
}

func (e *storeError) Is(target error) bool {
	if e.kind == nil {
		return target == economy.ErrStoreUnreachable
	}
	return target == e.kind || target == economy.ErrPaymentRejected
}

func reject(kind error, format string, args ...any) error {
	return &storeError{kind: kind, detail: fmt.Sprintf(format, args...)}
}

func unreachable(format string, args ...any) error {
	return &storeError{detail: fmt.Sprintf(format, args...)}
}
