package queues

import (
	"fmt"
	"io"
)

// Print writes a human-readable report of r to w: per queue (main first) whether it was created,
// unchanged or corrected, each drifted attribute as "  Attribute: old -> new", warnings, and
// the queue's URL and ARN. Write errors are ignored (w is a terminal or a buffer).
func (r *Result) Print(w io.Writer) {
	r.Main.print(w, "main queue")
	r.DeadLetter.print(w, "dead-letter queue")
}

func (q *QueueResult) print(w io.Writer, role string) {
	var status string
	switch n := len(q.Changes); {
	case q.Created:
		status = "created"
	case n == 0:
		status = "unchanged"
	case n == 1:
		status = "1 drifted attribute corrected"
	default:
		status = fmt.Sprintf("%d drifted attributes corrected", n)
	}
	fmt.Fprintf(w, "%s %s: %s\n", role, q.Name, status)
	for _, c := range q.Changes {
		old := c.Old
		if old == "" {
			old = "(unset)"
		}
		fmt.Fprintf(w, "  %s: %s -> %s\n", c.Attribute, old, c.New)
	}
	for _, warning := range q.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warning)
	}
	fmt.Fprintf(w, "  url: %s\n", q.URL)
	fmt.Fprintf(w, "  arn: %s\n", q.ARN)
}
