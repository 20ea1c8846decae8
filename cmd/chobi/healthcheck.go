package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// healthcheck is "chobi healthcheck [path]": it asks the server running
// beside it (HTTP_ADDR, on loopback when that is a wildcard address) for
// path (/readyz by default) and exits 0 on 200, 1 otherwise. It is for
// images without a shell or curl (deploy/docker: HEALTHCHECK) and reads
// nothing else of the configuration, so it works whatever the rest says.
func healthcheck(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	path := "/readyz"
	if len(args) > 0 {
		path = args[0]
	}
	if len(args) > 1 || !strings.HasPrefix(path, "/") {
		fmt.Fprintln(stderr, "usage: chobi healthcheck [/readyz|/healthz]")
		return 2
	}
	addr := strings.TrimSpace(getenv("HTTP_ADDR"))
	if addr == "" {
		addr = ":3000"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintf(stderr, "chobi healthcheck: HTTP_ADDR %q: %v\n", addr, err)
		return 2
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://" + net.JoinHostPort(host, port) + path
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "chobi healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "chobi healthcheck: %s: %s %s\n", url, resp.Status, strings.TrimSpace(string(body)))
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s\n", url, strings.TrimSpace(string(body)))
	return 0
}
