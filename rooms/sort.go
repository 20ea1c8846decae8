package rooms

import "sort"

func sortByViewers(order []int, list []Session, counts []int) {
	sort.SliceStable(order, func(a, b int) bool {
		ia, ib := order[a], order[b]
		if counts[ia] != counts[ib] {
			return counts[ia] > counts[ib]
		}
		return list[ia].CreatedAt.After(list[ib].CreatedAt)
	})
}
