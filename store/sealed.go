package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/chobilive/chobi/fieldcrypt"
)

// Push tokens are kept sealed at rest (migration 0012): push_tokens and
// push_outbox hold the token's keyed hash (token_hash, the key rows are
// found and kept unique by) and the token under AES-256-GCM
// (token_sealed), never the token. Lookups try the hash under every key
// of the ring, so rows sealed before a rotation finished are still found.

// PushTokenField is the sealed field's name, bound into its ciphertext
// and its hash (exported for tests that write rows directly).
const PushTokenField = "push_token"

const pushTokenField = PushTokenField

// ErrNoKeys: the store was opened without Config.Keys, and the call needs
// them.
var ErrNoKeys = errors.New("store: no data encryption keys are configured (DATA_ENCRYPTION_KEYS)")

func (s *Store) sealToken(token string) (hash, sealed string, err error) {
	if s.keys == nil {
		return "", "", ErrNoKeys
	}
	return s.keys.Hash(pushTokenField, token), s.keys.Seal(pushTokenField, []byte(token)), nil
}

func (s *Store) openToken(sealed string) (string, error) {
	if s.keys == nil {
		return "", ErrNoKeys
	}
	if sealed == "" {
		return "", errors.New("store: a push token not sealed yet (start a node to seal the rows migration 0012 left)")
	}
	b, err := s.keys.Open(pushTokenField, sealed)
	return string(b), err
}

// params writes n placeholders from $first: "$3, $4".
func params(first, n int) string {
	out := make([]string, n)
	for i := range out {
		out[i] = "$" + strconv.Itoa(first+i)
	}
	return strings.Join(out, ", ")
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// CheckKeys makes sure the configured keys open every sealed push token:
// each key id in use must be in the ring, and one value of each must
// open. A node without the right keys refuses to start rather than fail
// every push later. It also refuses rows that are still plaintext when
// there are no keys to seal them with.
func (s *Store) CheckKeys(ctx context.Context) error {
	for _, table := range []string{"push_tokens", "push_outbox"} {
		rows, err := s.query(ctx, `SELECT token_sealed FROM `+table)
		if err != nil {
			return err
		}
		checked := map[string]bool{}
		for rows.Next() {
			var sealed string
			if err := rows.Scan(&sealed); err != nil {
				rows.Close()
				return err
			}
			id := ""
			if sealed != "" {
				if id, err = fieldcrypt.KeyID(sealed); err != nil {
					rows.Close()
					return fmt.Errorf("store: %s holds a token_sealed that is not a sealed value", table)
				}
			}
			if checked[id] {
				continue
			}
			checked[id] = true
			switch {
			case s.keys == nil && id == "":
				rows.Close()
				return fmt.Errorf("store: %s holds push tokens not sealed yet, and DATA_ENCRYPTION_KEYS is not set to seal them", table)
			case s.keys == nil:
				rows.Close()
				return fmt.Errorf("store: %s holds push tokens sealed under key %q, and DATA_ENCRYPTION_KEYS is not set", table, id)
			case id == "":
				continue // plaintext rows from before migration 0012: SealPushTokens seals them
			}
			if _, err := s.keys.Open(pushTokenField, sealed); errors.Is(err, fieldcrypt.ErrUnknownKey) {
				rows.Close()
				return fmt.Errorf("store: %s holds push tokens sealed under key %q, which DATA_ENCRYPTION_KEYS (keys %s) does not list",
					table, id, strings.Join(s.keys.IDs(), ", "))
			} else if err != nil {
				rows.Close()
				return fmt.Errorf("store: %s holds push tokens that key %q of DATA_ENCRYPTION_KEYS does not open: it is not the key that sealed them", table, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// SealPushTokens seals again, under the current key, the push tokens that
// are not sealed under it (all) or only those still plaintext (all false:
// what a start-up after migration 0012 does), in batches of 200, each in
// a transaction; it returns how many rows it rewrote. Run while the node
// serves: a token registered meanwhile is written under the current key.
func (s *Store) SealPushTokens(ctx context.Context, all bool) (int, error) {
	if s.keys == nil {
		return 0, ErrNoKeys
	}
	cur := "fc1:" + s.keys.CurrentID() + ":"
	stale := `token_sealed = ''`
	if all {
		stale = `substr(token_sealed, 1, ` + strconv.Itoa(len(cur)) + `) <> '` + cur + `'`
	}
	total := 0
	for _, table := range []string{"push_tokens", "push_outbox"} {
		key := "token_hash"
		if table == "push_outbox" {
			key = "id"
		}
		for {
			n, err := s.sealBatch(ctx, table, key, stale)
			total += n
			if err != nil {
				return total, err
			}
			if n == 0 {
				break
			}
		}
	}
	return total, nil
}

func (s *Store) sealBatch(ctx context.Context, table, key, stale string) (int, error) {
	n := 0
	err := s.inTx(ctx, func(t tx) error {
		rows, err := t.query(ctx, `SELECT `+key+`, token_hash, token_sealed FROM `+table+` WHERE `+stale+` ORDER BY `+key+` LIMIT 200`)
		if err != nil {
			return err
		}
		type row struct{ key, hash, sealed string }
		var batch []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.key, &r.hash, &r.sealed); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range batch {
			token := r.hash // before migration 0012's sealing, the plaintext
			if r.sealed != "" {
				if token, err = s.openToken(r.sealed); err != nil {
					return fmt.Errorf("store: a %s row cannot be opened: %w", table, err)
				}
			}
			hash, sealed, _ := s.sealToken(token)
			if table == "push_tokens" {
				var taken int
				if err := t.queryRow(ctx, `SELECT COUNT(*) FROM push_tokens WHERE token_hash = $1`, hash).Scan(&taken); err != nil {
					return err
				}
				if taken > 0 && hash != r.hash { // registered again under the current key meanwhile: that row is newer
					_, err = t.exec(ctx, `DELETE FROM push_tokens WHERE token_hash = $1`, r.hash)
				} else {
					_, err = t.exec(ctx, `UPDATE push_tokens SET token_hash = $2, token_sealed = $3 WHERE token_hash = $1`, r.hash, hash, sealed)
				}
			} else {
				// A plaintext row's id names its token: it is renamed by the hash.
				_, err = t.exec(ctx, `UPDATE push_outbox SET token_hash = $2, token_sealed = $3,
					id = CASE WHEN token_sealed = '' THEN notification_id || ':' || $2 ELSE id END WHERE id = $1`, r.key, hash, sealed)
			}
			if err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
