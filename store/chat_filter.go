package store

import (
	"context"
	"errors"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/textkey"
)

// AddFilterWord adds a word or phrase to the chat filter, or changes its
// action ("mask" or "refuse").
func (s *Store) AddFilterWord(ctx context.Context, word, action string) error {
	key := textkey.Fold(word)
	if key == "" {
		return errors.New("the word is empty once folded")
	}
	if action != rooms.FilterMask && action != rooms.FilterRefuse {
		return errors.New(`the action is "mask" or "refuse"`)
	}
	_, err := s.exec(ctx, `INSERT INTO chat_filter (word_key, word, action, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (word_key) DO UPDATE SET word = excluded.word, action = excluded.action`, key, word, action, millis(now()))
	return err
}

// RemoveFilterWord takes a word off the chat filter; false when it was not
// on it.
func (s *Store) RemoveFilterWord(ctx context.Context, word string) (bool, error) {
	res, err := s.exec(ctx, `DELETE FROM chat_filter WHERE word_key = $1`, textkey.Fold(word))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// FilterWords implements rooms.SessionStore: the chat filter's words.
func (s *Store) FilterWords(ctx context.Context) ([]rooms.FilterWord, error) {
	rows, err := s.query(ctx, `SELECT word, action FROM chat_filter ORDER BY word_key`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rooms.FilterWord
	for rows.Next() {
		var w rooms.FilterWord
		if err := rows.Scan(&w.Word, &w.Action); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}
