package worker

import "testing"

func TestGroupsDeliverOneAtATimeInOrder(t *testing.T) {
	g := newGroups()
	a1, a2, a3 := &message{sqsID: "a1", group: "a"}, &message{sqsID: "a2", group: "a"}, &message{sqsID: "a3", group: "a"}
	b1 := &message{sqsID: "b1", group: "b"}
	if !g.admit(a1) || g.admit(a2) || g.admit(a3) || !g.admit(b1) {
		t.Fatal("want a1 and b1 admitted, a2 and a3 waiting")
	}
	next, release := g.finish("a", true) // a1 deleted
	if next != a2 || release != nil {
		t.Fatalf("after a1: next %v release %v, want a2", next, release)
	}
	next, release = g.finish("a", false) // a2 retried: a3 must not overtake it
	if next != nil || len(release) != 1 || release[0] != a3 {
		t.Fatalf("after a2's retry: next %v release %v, want a3 released", next, release)
	}
	if !g.admit(&message{sqsID: "a2-again", group: "a"}) {
		t.Error("group a still active after its queue was released")
	}
	if next, _ := g.finish("b", true); next != nil {
		t.Errorf("group b: next %v, want none", next)
	}
	if !g.admit(&message{sqsID: "b2", group: "b"}) {
		t.Error("group b not free after its only message finished")
	}
}
