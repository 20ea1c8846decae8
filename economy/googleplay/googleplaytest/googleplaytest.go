// Package googleplaytest is a local Google Play for tests: an OAuth 2 token
// endpoint that takes only a well-formed JWT bearer assertion signed by its
// service account, and the Play Developer API's purchases.products get and
// consume, answering in the documented shapes and refusing anything else.
package googleplaytest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const scope = "https://www.googleapis.com/auth/androidpublisher"

// Purchase is a purchase the fake Play knows, by its token.
type Purchase struct {
	PackageName      string
	ProductID        string
	OrderID          string
	PurchaseState    int // 0 purchased, 1 cancelled, 2 pending
	ConsumptionState int // 0 yet to be consumed, 1 consumed
	Quantity         int64
	Test             bool // purchaseType 0
}

// Server is the fake Google: Token and API are its two base URLs.
type Server struct {
	*httptest.Server
	TokenURL string // the token endpoint
	APIURL   string // the Play API's base

	key         *rsa.PrivateKey
	ClientEmail string

	mu        sync.Mutex
	purchases map[string]*Purchase // by token
	tokens    map[string]bool      // access tokens handed out
	// Fail makes the API answer this status (0: answer normally); Delay
	// holds every API answer that long.
	Fail       int
	Delay      time.Duration
	TokenFails int // answer the token endpoint's next N requests 500
	Gets       int
	Consumes   int
	TokenCalls int
	Problems   []string // requests it refused as malformed (a test fails on any)
}

// New starts the fake Google for t.
func New(t testing.TB) *Server {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{key: k, ClientEmail: "chobi-play@chobi-test.iam.gserviceaccount.com",
		purchases: map[string]*Purchase{}, tokens: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", s.token)
	mux.HandleFunc("/androidpublisher/v3/applications/", s.api)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	s.TokenURL, s.APIURL = s.URL+"/token", s.URL
	return s
}

// Add registers a purchase under its token.
func (s *Server) Add(token string, p Purchase) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Quantity == 0 {
		p.Quantity = 1
	}
	s.purchases[token] = &p
}

// Get is the purchase of a token as the fake Play has it now.
func (s *Server) Get(token string) Purchase {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.purchases[token]
}

// Set changes the API's failure mode.
func (s *Server) Set(fail int, delay time.Duration) {
	s.mu.Lock()
	s.Fail, s.Delay = fail, delay
	s.mu.Unlock()
}

// KeyJSON is the service account's JSON key, as the Cloud console gives it.
func (s *Server) KeyJSON() []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(s.key)
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "chobi-test", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": s.ClientEmail, "token_uri": s.TokenURL,
	})
	return b
}

// KeyFile writes the key to a file in the test's temporary folder.
func (s *Server) KeyFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(p, s.KeyJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *Server) problem(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.Problems = append(s.Problems, msg)
	s.mu.Unlock()
	http.Error(w, msg, status)
}

// token is the OAuth 2 token endpoint (RFC 7523 §2.1, as Google documents
// it for service accounts).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.TokenCalls++
	fail := s.TokenFails > 0
	if fail {
		s.TokenFails--
	}
	s.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		s.problem(w, http.StatusBadRequest, "token: %s %s", r.Method, r.Header.Get("Content-Type"))
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		s.oauthError(w, "unsupported_grant_type", "grant_type")
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		s.oauthError(w, "invalid_grant", "assertion is not a JWT")
		return
	}
	var header map[string]string
	var claims struct {
		Iss, Scope, Aud string
		Iat, Exp        int64
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		s.oauthError(w, "invalid_grant", "assertion is not base64url JSON")
		return
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	now := time.Now().Unix()
	switch {
	case header["alg"] != "RS256":
		s.oauthError(w, "invalid_grant", "alg")
	case rsa.VerifyPKCS1v15(&s.key.PublicKey, crypto.SHA256, digest[:], sig) != nil:
		s.oauthError(w, "invalid_grant", "Invalid JWT Signature.")
	case claims.Iss != s.ClientEmail || claims.Aud != s.TokenURL || !strings.Contains(" "+claims.Scope+" ", " "+scope+" "):
		s.oauthError(w, "invalid_grant", "iss, aud or scope")
	case claims.Iat > now+60 || claims.Exp <= now || claims.Exp-claims.Iat > 3600:
		s.oauthError(w, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
	default:
		tok := "ya29.test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		s.mu.Lock()
		s.tokens[tok] = true
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})
	}
}

func (s *Server) oauthError(w http.ResponseWriter, code, desc string) {
	s.mu.Lock()
	s.Problems = append(s.Problems, "token: "+code+": "+desc)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func apiError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": msg}})
}

// api serves GET .../applications/{pkg}/purchases/products/{product}/tokens/{token}
// and POST the same with :consume.
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	fail, delay := s.Fail, s.Delay
	authorised := s.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if fail != 0 {
		apiError(w, fail, http.StatusText(fail))
		return
	}
	if !authorised {
		apiError(w, http.StatusUnauthorized, "Request is missing required authentication credential.")
		return
	}
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/androidpublisher/v3/applications/")
	seg := strings.Split(rest, "/")
	if len(seg) != 6 || seg[1] != "purchases" || seg[2] != "products" || seg[4] != "tokens" {
		s.problem(w, http.StatusNotFound, "api: path %s", r.URL.Path)
		return
	}
	tokenSeg, consume := strings.CutSuffix(seg[5], ":consume")
	if (consume && r.Method != http.MethodPost) || (!consume && r.Method != http.MethodGet) {
		s.problem(w, http.StatusMethodNotAllowed, "api: %s %s", r.Method, r.URL.Path)
		return
	}
	pkg, product, token := unescape(seg[0]), unescape(seg[3]), unescape(tokenSeg)
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.purchases[token]
	switch {
	case p == nil:
		apiError(w, http.StatusBadRequest, "The purchase token is invalid.")
		return
	case p.PackageName != pkg:
		apiError(w, http.StatusBadRequest, "The purchase token does not match the package name.")
		return
	case p.ProductID != product:
		apiError(w, http.StatusBadRequest, "The purchase token does not match the product ID.")
		return
	}
	if consume {
		s.Consumes++
		if p.ConsumptionState == 1 || p.PurchaseState != 0 {
			apiError(w, http.StatusBadRequest, "The product purchase is not owned by the user.")
			return
		}
		p.ConsumptionState = 1
		w.WriteHeader(http.StatusOK)
		return
	}
	s.Gets++
	out := map[string]any{
		"kind": "androidpublisher#productPurchase", "purchaseTimeMillis": strconv.FormatInt(time.Now().UnixMilli()-1000, 10),
		"purchaseState": p.PurchaseState, "consumptionState": p.ConsumptionState, "developerPayload": "",
		"orderId": p.OrderID, "acknowledgementState": p.ConsumptionState, "productId": p.ProductID,
		"quantity": p.Quantity, "regionCode": "AE", "purchaseToken": token,
	}
	if p.Test {
		out["purchaseType"] = 0
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
