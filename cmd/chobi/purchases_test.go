package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/economy/appstore/appstoretest"
	"github.com/chobilive/chobi/economy/googleplay/googleplaytest"
)

func TestPurchasesConfig(t *testing.T) {
	c, err := loadPurchasesConfig(env{}.getenv)
	if err != nil || len(c.Products) != 5 || c.Products["coins_100"] != 100 || c.AppleBundleID != "" || c.AppleAllowSandbox {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	ca := appstoretest.NewCA(t)
	c, err = loadPurchasesConfig(env{"COIN_PRODUCTS": "gems.small=50, gems.big=5000", "APPLE_BUNDLE_ID": "live.chobi.app",
		"APPLE_ROOT_CA_PATH": ca.RootFile(t), "APPLE_ALLOW_SANDBOX": "true"}.getenv)
	if err != nil || len(c.Products) != 2 || c.Products["gems.big"] != 5000 || c.appleRoots == nil || !c.AppleAllowSandbox {
		t.Fatalf("set: %+v %v", c, err)
	}
	stores, err := storeVerifiers(config{Env: "production", Purchases: c})
	if err != nil || stores[economy.PlatformApple] == nil || stores[economy.PlatformGoogle] != nil {
		t.Fatalf("stores %v %v", stores, err)
	}
	g := googleplaytest.New(t)
	c, err = loadPurchasesConfig(env{"GOOGLE_SERVICE_ACCOUNT_FILE": g.KeyFile(t), "GOOGLE_PLAY_PACKAGE": "live.chobi.app",
		"GOOGLE_PLAY_API_URL": g.APIURL}.getenv)
	if err != nil || c.googleAccount == nil || c.GoogleAPIURL != g.APIURL {
		t.Fatalf("google: %+v %v", c, err)
	}
	if stores, err := storeVerifiers(config{Purchases: c}); err != nil || stores[economy.PlatformGoogle] == nil {
		t.Fatalf("google store %v %v", stores, err)
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(empty, []byte("no certificate"), 0o600)
	for name, e := range map[string]env{
		"COIN_PRODUCTS":                     {"COIN_PRODUCTS": "coins_100=0"},
		"COIN_PRODUCTS twice":               {"COIN_PRODUCTS": "a=1,a=2"},
		"COIN_PRODUCTS id":                  {"COIN_PRODUCTS": "coins 100=100"},
		"APPLE_ROOT_CA_PATH":                {"APPLE_ROOT_CA_PATH": empty},
		"APPLE_ALLOW_SANDBOX":               {"APPLE_ALLOW_SANDBOX": "maybe"},
		"GOOGLE_SERVICE_ACCOUNT_FILE alone": {"GOOGLE_SERVICE_ACCOUNT_FILE": g.KeyFile(t)},
		"GOOGLE_SERVICE_ACCOUNT_FILE bad":   {"GOOGLE_SERVICE_ACCOUNT_FILE": empty, "GOOGLE_PLAY_PACKAGE": "p"},
		"GOOGLE_PLAY_API_URL":               {"GOOGLE_PLAY_API_URL": "ftp://x"},
		"GOOGLE_OAUTH_TOKEN_URL":            {"GOOGLE_OAUTH_TOKEN_URL": "not a url"},
	} {
		want := strings.Fields(name)[0]
		if _, err := loadPurchasesConfig(e.getenv); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
