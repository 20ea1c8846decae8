package api

import (
	"fmt"
	"strings"

	"github.com/chobilive/chobi/validation"
	"github.com/chobilive/chobi/web/trpc"
)

// Field checks shared by the inputs' Validate methods.

func checkLimit(f *trpc.Fields, limit int) {
	if limit < 1 || limit > 100 {
		f.Add("limit", "must be between 1 and 100")
	}
}

// defaultLimit sets an absent limit to 20 and checks it.
func defaultLimit(f *trpc.Fields, limit **int) {
	if *limit == nil {
		n := 20
		*limit = &n
	}
	checkLimit(f, **limit)
}

func checkEnum(f *trpc.Fields, field, value string, allowed ...string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	f.Add(field, "must be one of "+quoteAll(allowed))
}

func checkText(f *trpc.Fields, field, value string, min, max int, plain bool) {
	if msg := validation.TextProblem(value, min, max, plain); msg != "" {
		f.Add(field, msg)
	}
}

func checkRequired(f *trpc.Fields, field, value string) {
	if value == "" {
		f.Add(field, "is required")
	} else if len(value) > 200 {
		f.Add(field, "is too long")
	}
}

func quoteAll(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}
