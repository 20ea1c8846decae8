// Package demo serves the demo page: a browser client of Chobi Live written
// only against the public contract (PROTOCOL.md: the tRPC API and /ws). The
// page is plain HTML, CSS and ES modules embedded in the binary, so the
// binary is the whole product and nothing is built to run it.
package demo

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/chobilive/chobi/web/httpgzip"
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
}

// cacheControl lets a browser or a CDN keep the page and its files but
// ask each time whether they changed, answered by a 304 on the ETag. The
// files keep stable names because the ES modules import one another by
// name ("./session.js"): content-hashed names with "immutable" would need
// those imports rewritten at start-up, for a saving of one conditional
// request per file; revalidation also shows a new build at once.
const cacheControl = "public, max-age=0, must-revalidate"

// asset is one embedded file as served: its bytes, gzipped when that
// pays, and a strong ETag for each form (RFC 9110 §8.8.3: the two are
// different representations).
type asset struct {
	body, gz     []byte
	contentType  string
	etag, etagGz string
}

func newAsset(name string, body []byte) *asset {
	a := &asset{body: body, contentType: mime.TypeByExtension(path.Ext(name))}
	sum := sha256.Sum256(body)
	a.etag = `"` + hex.EncodeToString(sum[:16]) + `"`
	if len(body) >= httpgzip.MinSize && httpgzip.Compressible(a.contentType) {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // once, at start-up; a valid level
		zw.Write(body)
		zw.Close()
		if buf.Len() < len(body) {
			a.gz = buf.Bytes()
			a.etagGz = `"` + hex.EncodeToString(sum[:16]) + `-gzip"`
		}
	}
	return a
}

// serve answers GET and HEAD, and a request whose If-None-Match names
// the form it would get with 304. A Range is answered with the whole
// file (RFC 9110 §14.2 allows it): nothing fetches these files in parts.
func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", cacheControl)
	body, etag := a.body, a.etag
	if a.gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if httpgzip.Accepts(r) {
			body, etag = a.gz, a.etagGz
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagListed(inm, etag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// etagListed reports whether an If-None-Match value names etag: "*", or
// a list of tags compared weakly (RFC 9110 §13.1.2).
func etagListed(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// Handler serves the page at "/" and its files under "/demo/". Every
// file is read, hashed and compressed here, once.
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
	page := newAsset("index.html", index)
	assets := map[string]*asset{}
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic("demo: cannot list the embedded files: " + err.Error())
	}
	for _, e := range entries {
		// The page is served at "/" only, with its data-env.
		if e.IsDir() || e.Name() == "index.html" {
			continue
		}
		b, err := files.ReadFile(e.Name())
		if err != nil {
			panic("demo: cannot read " + e.Name() + ": " + err.Error())
		}
		assets[e.Name()] = newAsset(e.Name(), b)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		if r.URL.Path == "/" {
			page.serve(w, r)
			return
		}
		if a := assets[strings.TrimPrefix(r.URL.Path, "/demo/")]; a != nil && strings.HasPrefix(r.URL.Path, "/demo/") {
			a.serve(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		http.NotFound(w, r)
	})
}
