// Package demo serves the demo page: a browser client of Chobi Live written
// only against the public contract (PROTOCOL.md: the tRPC API and /ws). The
// page is plain HTML, CSS and ES modules embedded in the binary, so the
// binary is the whole product and nothing is built to run it.
package demo

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed index.html style.css *.js *.svg
var files embed.FS

// Options configure the page.
type Options struct {
	// Development shows the wallet's top-up button, which credits coins at
	// once only in development (PROTOCOL.md §1, wallet.topUp).
	Development bool
}

// securityHeaders keep the page to its own scripts and styles: user text is
// only ever inserted as text, and the policy is a second line behind that.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
		"media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
	"Cache-Control":          "no-cache",
}

// Handler serves the page at "/" and its files under "/demo/".
func Handler(o Options) http.Handler {
	index, err := files.ReadFile("index.html")
	if err != nil {
		panic("demo: index.html is not embedded: " + err.Error()) // a build mistake, caught by the tests
	}
	env := "production"
	if o.Development {
		env = "development"
	}
	index = bytes.Replace(index, []byte(`data-env="production"`), []byte(`data-env="`+env+`"`), 1)
	assets := http.StripPrefix("/demo/", http.FileServerFS(assetFS{files}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		if r.URL.Path == "/" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			if r.Method != http.MethodHead {
				w.Write(index)
			}
			return
		}
		assets.ServeHTTP(w, r)
	})
}

// assetFS serves the page's files but no directory listing and not the
// index page a second time.
type assetFS struct{ fsys fs.FS }

func (a assetFS) Open(name string) (fs.File, error) {
	if name == "." || name == "index.html" || strings.Contains(name, "/") || path.Ext(name) == "" {
		return nil, fs.ErrNotExist
	}
	return a.fsys.Open(name)
}
