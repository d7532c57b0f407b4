package worker

import (
	"context"
	"testing"
	"testing/synctest"
)

// Pollers stop asking for messages while the in-flight bound is reached,
// and two pollers never reserve more than the bound between them.
func TestCapacityBlocksPollingWhenFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCapacity(3, 1<<20)
		ctx := context.Background()
		if n := c.reserve(ctx, 10); n != 3 {
			t.Fatalf("first reservation %d, want all 3 free slots", n)
		}
		got := make(chan int, 2)
		go func() { got <- c.reserve(ctx, 10) }()
		go func() { got <- c.reserve(ctx, 10) }()
		synctest.Wait()
		select {
		case n := <-got:
			t.Fatalf("a poller reserved %d slots while full", n)
		default:
		}
		// Two of the three reservations received messages; one came back empty.
		c.take(100)
		c.take(100)
		c.unreserve(1)
		synctest.Wait()
		n1 := <-got
		select {
		case n := <-got:
			t.Fatalf("both pollers got slots (%d and %d) when one was free", n1, n)
		default:
		}
		if n1 != 1 {
			t.Fatalf("reserved %d, want the 1 free slot", n1)
		}
		c.unreserve(1) // that receive came back empty
		synctest.Wait()
		if n := <-got; n != 1 {
			t.Fatalf("second poller reserved %d, want 1", n)
		}
		if msgs, bytes := c.usage(); msgs != 3 || bytes != 200 {
			t.Errorf("usage %d messages %d bytes, want 3 and 200", msgs, bytes)
		}
		// The gauge counts messages held, not the poller's reservation.
		if msgs, bytes := c.held(); msgs != 2 || bytes != 200 {
			t.Errorf("held %d messages %d bytes, want 2 and 200", msgs, bytes)
		}
		c.release(100)
		if msgs, bytes := c.usage(); msgs != 2 || bytes != 100 {
			t.Errorf("after release: %d messages %d bytes", msgs, bytes)
		}
	})
}

func TestCapacityBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCapacity(10, 150)
		ctx := context.Background()
		n := c.reserve(ctx, 2)
		c.take(200)
		c.unreserve(n - 1)
		got := make(chan int, 1)
		go func() { got <- c.reserve(ctx, 10) }()
		synctest.Wait()
		select {
		case n := <-got:
			t.Fatalf("reserved %d slots while over the byte bound", n)
		default:
		}
		c.release(200)
		synctest.Wait()
		if n := <-got; n != 10 {
			t.Errorf("reserved %d after the bytes were released, want 10", n)
		}
	})
}

func TestReserveStopsWithTheContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCapacity(1, 1<<20)
		c.reserve(context.Background(), 1)
		ctx, cancel := context.WithCancel(context.Background())
		got := make(chan int, 1)
		go func() { got <- c.reserve(ctx, 1) }()
		synctest.Wait()
		cancel()
		if n := <-got; n != 0 {
			t.Errorf("reserve after cancel returned %d, want 0", n)
		}
	})
}
