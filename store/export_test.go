package store

import "context"

// RefillSearchKeys runs migration 0010's Go step again, for its test.
func (s *Store) RefillSearchKeys(ctx context.Context) error {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fillSearchKeys(ctx, t, s.dialect); err != nil {
		t.Rollback()
		return err
	}
	return t.Commit()
}

// MigrateSkipping applies every migration but the one named, for tests that
// build data under the schema as it was before it.
func (s *Store) MigrateSkipping(ctx context.Context, name string) ([]string, error) {
	return s.migrate(ctx, func(n string) bool { return n == name })
}
