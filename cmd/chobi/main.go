// Command chobi is the Chobi Live server.
//
//	chobi [serve]   run the server (the default)
//	chobi migrate   apply the database migrations and exit
//	chobi admin     grant-coins, reconcile (see admin.go)
//	chobi healthcheck  exit 0 if the local server's /readyz answers 200 (healthcheck.go)
//	chobi gen ts    write the client kit's TypeScript types (gen.go)
//
// Configuration comes from the environment (docs/configuration.md).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	// Quiet hours are kept in the user's time zone; the zone database is
	// built in so a container without /usr/share/zoneinfo reads them right.
	_ "time/tzdata"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `usage: chobi [serve|migrate|admin|healthcheck|gen|help]

  serve     run the server (default)
  migrate   apply database migrations and exit
  admin     grant-coins, reconcile ("chobi admin help")
  healthcheck [path]  exit 0 if this host's server answers 200 on path (/readyz)
  gen ts [-out dir] [-check]  write clients/ts's generated TypeScript types

Configuration is read from the environment; see README.md.
`

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if cmd == "healthcheck" { // before the configuration: it needs only HTTP_ADDR
		return healthcheck(args[1:], getenv, stdout, stderr)
	}
	if cmd == "gen" { // nor does generating the client kit's types
		return gen(args[1:], stdout, stderr)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "chobi: configuration is invalid:\n%v\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "serve":
		err = serve(ctx, cfg, log)
	case "migrate":
		err = migrate(ctx, cfg, log)
	case "admin":
		return runAdmin(ctx, cfg, log, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "chobi: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		log.Error("chobi failed", "command", cmd, "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func migrate(ctx context.Context, cfg config, log *slog.Logger) error {
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	log.Info("migrations applied", "database", st.Dialect(), "applied", len(applied), "names", applied)
	return nil
}
