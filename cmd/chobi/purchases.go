package main

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/economy/appstore"
	"github.com/chobilive/chobi/economy/googleplay"
)

// purchasesConfig is the coins sold as store products and how each store's
// purchases are verified (COIN_PRODUCTS, APPLE_*, GOOGLE_*). A store without its
// settings takes no purchases (wallet.verifyPurchase answers
// PRECONDITION_FAILED).
type purchasesConfig struct {
	Products          economy.Products // COIN_PRODUCTS
	AppleBundleID     string           // APPLE_BUNDLE_ID: "" takes no App Store purchases
	AppleRootPath     string           // APPLE_ROOT_CA_PATH: "" trusts the embedded Apple Root CA - G3
	AppleAllowSandbox bool             // APPLE_ALLOW_SANDBOX: production takes sandbox purchases too
	appleRoots        *x509.CertPool   // read from AppleRootPath

	GoogleAccountFile string // GOOGLE_SERVICE_ACCOUNT_FILE: "" takes no Play purchases
	GooglePackage     string // GOOGLE_PLAY_PACKAGE
	GoogleAPIURL      string // GOOGLE_PLAY_API_URL
	GoogleTokenURL    string // GOOGLE_OAUTH_TOKEN_URL: "" takes the key's token_uri
	googleAccount     *googleplay.ServiceAccount
}

func loadPurchasesConfig(getenv func(string) string) (purchasesConfig, error) {
	var errs []string
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	var p purchasesConfig
	var err error
	if p.Products, err = economy.ParseProducts(get("COIN_PRODUCTS", economy.DefaultProducts)); err != nil {
		errs = append(errs, fmt.Sprintf("COIN_PRODUCTS: %v", err))
	}
	p.AppleBundleID, p.AppleRootPath = get("APPLE_BUNDLE_ID", ""), get("APPLE_ROOT_CA_PATH", "")
	if p.AppleAllowSandbox, err = strconv.ParseBool(get("APPLE_ALLOW_SANDBOX", "false")); err != nil {
		errs = append(errs, "APPLE_ALLOW_SANDBOX must be true or false")
	}
	if p.AppleRootPath != "" {
		if p.appleRoots, err = appstore.LoadRoots(p.AppleRootPath); err != nil {
			errs = append(errs, fmt.Sprintf("APPLE_ROOT_CA_PATH: %v", err))
		}
	}
	p.GoogleAccountFile, p.GooglePackage = get("GOOGLE_SERVICE_ACCOUNT_FILE", ""), get("GOOGLE_PLAY_PACKAGE", "")
	p.GoogleAPIURL, p.GoogleTokenURL = get("GOOGLE_PLAY_API_URL", googleplay.DefaultAPIURL), get("GOOGLE_OAUTH_TOKEN_URL", "")
	switch {
	case (p.GoogleAccountFile == "") != (p.GooglePackage == ""):
		errs = append(errs, "GOOGLE_SERVICE_ACCOUNT_FILE and GOOGLE_PLAY_PACKAGE go together: set both for Google Play purchases, or neither")
	case p.GoogleAccountFile != "":
		if p.googleAccount, err = googleplay.LoadServiceAccount(p.GoogleAccountFile); err != nil {
			errs = append(errs, fmt.Sprintf("GOOGLE_SERVICE_ACCOUNT_FILE: %v", err))
		}
	}
	for name, v := range map[string]string{"GOOGLE_PLAY_API_URL": p.GoogleAPIURL, "GOOGLE_OAUTH_TOKEN_URL": p.GoogleTokenURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Sprintf("%s must be an http(s) URL, got %q", name, v))
		}
	}
	if len(errs) > 0 {
		return p, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return p, nil
}

// storeVerifiers builds the verifier of each configured store.
func storeVerifiers(cfg config) (map[string]economy.StoreVerifier, error) {
	p := cfg.Purchases
	stores := map[string]economy.StoreVerifier{}
	if p.AppleBundleID != "" {
		v, err := appstore.New(appstore.Config{BundleID: p.AppleBundleID, Roots: p.appleRoots,
			Production: cfg.production(), AllowSandbox: p.AppleAllowSandbox})
		if err != nil {
			return nil, err
		}
		stores[economy.PlatformApple] = v
	}
	if p.googleAccount != nil {
		v, err := googleplay.New(googleplay.Config{Account: p.googleAccount, PackageName: p.GooglePackage,
			APIURL: p.GoogleAPIURL, TokenURL: p.GoogleTokenURL})
		if err != nil {
			return nil, err
		}
		stores[economy.PlatformGoogle] = v
	}
	return stores, nil
}

// logPurchases says at start-up which stores' purchases this node takes.
func logPurchases(cfg config, log *slog.Logger) {
	p := cfg.Purchases
	if p.AppleBundleID == "" {
		log.Info("App Store purchases off (APPLE_BUNDLE_ID is not set)")
	} else {
		root := "Apple Root CA - G3 (embedded)"
		if p.AppleRootPath != "" {
			root = p.AppleRootPath
		}
		log.Info("App Store purchases verified", "bundle_id", p.AppleBundleID, "root", root,
			"sandbox", !cfg.production() || p.AppleAllowSandbox, "products", len(p.Products))
	}
	if p.googleAccount == nil {
		log.Info("Google Play purchases off (GOOGLE_SERVICE_ACCOUNT_FILE and GOOGLE_PLAY_PACKAGE are not set)")
	} else {
		log.Info("Google Play purchases verified", "package", p.GooglePackage, "service_account", p.googleAccount.ClientEmail, "api", p.GoogleAPIURL)
	}
	if cfg.production() {
		log.Info("wallet.topUp is refused in production: coins come only from verified store purchases")
	}
}
