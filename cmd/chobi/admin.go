package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
)

const adminUsage = `usage: chobi admin <command> [flags]

  grant-coins --user <id or username> --amount N [--note text] [--idempotency-key key]
              credit N coins to a user (from the platform's issuance account)
  reconcile   check every ledger invariant over the whole database; prints what
              is wrong and exits 1 if anything is
  notify      --user <id or username> --title text --body text
              send a user a system notification (in the app and pushed to their
              phones, as their settings allow)
  filter add --word text [--refuse] | filter remove --word text | filter list
              the chat filter: words and phrases masked with asterisks (or, with
              --refuse, messages holding them refused), matched without tashkeel,
              Arabic letter variants and case; every node applies a change within 10 s
  rotate-keys seal every push token again under the current key of
              DATA_ENCRYPTION_KEYS (the first); run it after putting a new key
              first, before dropping the old one from the list
`

// newEconomy builds the economy on the store, with rooms answering who is
// on a session's stage and the configured stores verifying purchases.
// wallet.topUp has no payment verifier, so production refuses it: there,
// coins come in only as verified store purchases (nothing is credited
// unverified).
func newEconomy(cfg config, st *store.Store, stage economy.Stage, news economy.Announcer, log *slog.Logger) (*economy.Service, error) {
	stores, err := storeVerifiers(cfg)
	if err != nil {
		return nil, err
	}
	return economy.New(economy.Params{
		Ledger: st, Stage: stage, Announcer: news, Logger: log, Stores: stores,
		Config: economy.Config{HostShare: cfg.HostShare, Production: cfg.production(), Products: cfg.Purchases.Products},
	})
}

// runAdmin runs "chobi admin ..." and returns the exit status: 0 done,
// 1 failed (or reconcile found problems), 2 bad usage.
func runAdmin(ctx context.Context, cfg config, log *slog.Logger, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, adminUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var run func(ctx context.Context, econ *economy.Service, st *store.Store) error
	switch args[0] {
	case "grant-coins":
		fs := flag.NewFlagSet("grant-coins", flag.ContinueOnError)
		fs.SetOutput(stderr)
		user := fs.String("user", "", "the user's id or username")
		amount := fs.Int64("amount", 0, "coins to credit (1.."+fmt.Sprint(int64(economy.MaxGrant))+")")
		note := fs.String("note", "", "why (kept with the grant)")
		key := fs.String("idempotency-key", "", "a key that makes a repeated command credit once")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if *user == "" || *amount == 0 || fs.NArg() > 0 {
			fmt.Fprintf(stderr, "chobi admin grant-coins: --user and --amount are required\n\n%s", adminUsage)
			return 2
		}
		run = func(ctx context.Context, econ *economy.Service, st *store.Store) error {
			return grantCoins(ctx, econ, st, *user, *amount, *note, *key, stdout)
		}
	case "reconcile":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "chobi admin reconcile takes no arguments\n\n%s", adminUsage)
			return 2
		}
		run = func(ctx context.Context, econ *economy.Service, st *store.Store) error {
			return reconcile(ctx, econ, stdout)
		}
	case "rotate-keys":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "chobi admin rotate-keys takes no arguments\n\n%s", adminUsage)
			return 2
		}
		run = func(ctx context.Context, _ *economy.Service, st *store.Store) error {
			n, err := st.SealPushTokens(ctx, true)
			if err == nil {
				fmt.Fprintf(stdout, "re-sealed %d rows under the current key\n", n)
			}
			return err
		}
	case "notify":
		fs := flag.NewFlagSet("notify", flag.ContinueOnError)
		fs.SetOutput(stderr)
		user := fs.String("user", "", "the user's id or username")
		title := fs.String("title", "", "the notification's title (1 to 100 characters)")
		body := fs.String("body", "", "its text (up to 500 characters)")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if *user == "" || *title == "" || fs.NArg() > 0 {
			fmt.Fprintf(stderr, "chobi admin notify: --user and --title are required\n\n%s", adminUsage)
			return 2
		}
		if utf8.RuneCountInString(*title) > 100 || utf8.RuneCountInString(*body) > 500 || !utf8.ValidString(*title+*body) {
			fmt.Fprintf(stderr, "chobi admin notify: --title is at most 100 characters and --body 500, in UTF-8\n")
			return 2
		}
		run = func(ctx context.Context, _ *economy.Service, st *store.Store) error {
			u, err := findUser(ctx, st, *user)
			if err != nil {
				return err
			}
			if err := st.Notify(ctx, u.ID, rooms.Notice{Type: "system", Title: *title, Body: *body}); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "notified %s (%s)\n", u.Username, u.ID)
			return nil
		}
	case "filter":
		var ok bool
		if run, ok = filterCommand(args[1:], stdout, stderr); !ok {
			return 2
		}
	default:
		fmt.Fprintf(stderr, "chobi admin: unknown command %q\n\n%s", args[0], adminUsage)
		return 2
	}

	st, err := openStore(ctx, cfg, log)
	if err != nil {
		log.Error("chobi admin failed", "command", args[0], "err", err)
		return 1
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		log.Error("chobi admin failed", "command", args[0], "err", err)
		return 1
	}
	if err := checkSealed(ctx, st, log); err != nil {
		log.Error("chobi admin failed", "command", args[0], "err", err)
		fmt.Fprintf(stderr, "chobi admin %s: %v\n", args[0], err)
		return 1
	}
	econ, err := newEconomy(cfg, st, rooms.NewService(rooms.Params{Store: st, Logger: log}), nil, log)
	if err == nil {
		err = run(ctx, econ, st)
	}
	if errors.Is(err, errReconcileFailed) {
		return 1
	}
	if err != nil {
		log.Error("chobi admin failed", "command", args[0], "err", err)
		fmt.Fprintf(stderr, "chobi admin %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func grantCoins(ctx context.Context, econ *economy.Service, st *store.Store, who string, amount int64, note, key string, stdout io.Writer) error {
	u, err := findUser(ctx, st, who)
	if err != nil {
		return err
	}
	rc, err := econ.Grant(ctx, u.ID, amount, note, key)
	if err != nil {
		return err
	}
	verb := "granted"
	if rc.Replayed {
		verb = "already granted (same idempotency key)"
	}
	fmt.Fprintf(stdout, "%s %d coins to %s (%s): balance %d coins; transaction %s\n", verb, rc.Amount, u.Username, u.ID, rc.Coins, rc.ID)
	return nil
}

// findUser finds a user by id or else by username.
func findUser(ctx context.Context, st *store.Store, who string) (store.User, error) {
	u, err := st.UserByID(ctx, who)
	if errors.Is(err, store.ErrNotFound) {
		u, err = st.UserByUsername(ctx, who)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("no user has the id or username %q", who)
	}
	return u, err
}

var errReconcileFailed = errors.New("reconcile found problems")

func reconcile(ctx context.Context, econ *economy.Service, stdout io.Writer) error {
	r, err := econ.Reconcile(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ledger: %d accounts, %d transfers, %d gifts, %d coin credits\n", r.Accounts, r.Transfers, r.Gifts, r.Credits)
	for _, c := range economy.Currencies {
		fmt.Fprintf(stdout, "sum of %s over all accounts: %d\n", c, r.Totals[c])
	}
	keys := make([]string, 0, len(r.Platform))
	for k := range r.Platform {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(stdout, "platform %s: %d\n", k, r.Platform[k])
	}
	if r.OK() {
		fmt.Fprintln(stdout, "OK: every invariant holds")
		return nil
	}
	fmt.Fprintf(stdout, "FAILED: %d problem(s)\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintf(stdout, "  [%s] %s\n", p.Check, strings.TrimSpace(p.Detail))
	}
	return errReconcileFailed
}

// filterCommand parses "chobi admin filter ..."; false on bad usage (said
// on stderr).
func filterCommand(args []string, stdout, stderr io.Writer) (func(context.Context, *economy.Service, *store.Store) error, bool) {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "chobi admin filter: add, remove or list\n\n%s", adminUsage)
		return nil, false
	}
	fs := flag.NewFlagSet("filter "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	word := fs.String("word", "", "the word or phrase")
	refuse := fs.Bool("refuse", false, "refuse messages holding it (default: mask it)")
	if err := fs.Parse(args[1:]); err != nil {
		return nil, false
	}
	switch {
	case fs.NArg() > 0, args[0] == "list" && (*word != "" || *refuse), args[0] != "list" && *word == "":
		fmt.Fprintf(stderr, "chobi admin filter %s: bad arguments\n\n%s", args[0], adminUsage)
		return nil, false
	}
	switch args[0] {
	case "add":
		action := rooms.FilterMask
		if *refuse {
			action = rooms.FilterRefuse
		}
		return func(ctx context.Context, _ *economy.Service, st *store.Store) error {
			if err := st.AddFilterWord(ctx, *word, action); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "filter: %q will be %sed\n", *word, strings.TrimSuffix(action, "e"))
			return nil
		}, true
	case "remove":
		return func(ctx context.Context, _ *economy.Service, st *store.Store) error {
			removed, err := st.RemoveFilterWord(ctx, *word)
			if err != nil {
				return err
			}
			if !removed {
				return fmt.Errorf("%q is not in the filter", *word)
			}
			fmt.Fprintf(stdout, "filter: %q removed\n", *word)
			return nil
		}, true
	case "list":
		return func(ctx context.Context, _ *economy.Service, st *store.Store) error {
			words, err := st.FilterWords(ctx)
			if err != nil {
				return err
			}
			for _, w := range words {
				fmt.Fprintf(stdout, "%s\t%s\n", w.Action, w.Word)
			}
			fmt.Fprintf(stdout, "%d words\n", len(words))
			return nil
		}, true
	}
	fmt.Fprintf(stderr, "chobi admin filter: unknown %q: add, remove or list\n\n%s", args[0], adminUsage)
	return nil, false
}
