package pwlog_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/pwlog/pwlog/internal/revenue"
)

// TestRevenueExample runs the built examples/revenue over rounds that add
// order files and rewrite the customers file, moving customers to other
// countries. The first rounds run once each and must emit exactly the
// difference between the from-scratch results before and after; later
// rounds are killed with SIGKILL at random moments and restarted until a
// run completes, and the changelog must still hold every row exactly once,
// times in order, and consolidate to the from-scratch result.
func TestRevenueExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a binary")
	}
	bin := buildExample(t, "revenue")
	dir := t.TempDir()
	orders, customers := filepath.Join(dir, "orders"), filepath.Join(dir, "customers")
	storage, output := filepath.Join(dir, "storage"), filepath.Join(dir, "revenue.csv")
	os.Mkdir(orders, 0o755)
	os.Mkdir(customers, 0o755)
	const nCustomers = 3000
	const window = 7200
	moved := map[int]bool{}
	writeCustomers := func() {
		if err := revenue.WriteCustomers(filepath.Join(customers, "customers.csv"), nCustomers, 1, moved); err != nil {
			t.Fatal(err)
		}
	}
	orderFiles := 0
	addOrders := func(rows int) {
		path := filepath.Join(orders, "orders_"+itoa(int64(orderFiles))+".csv")
		err := revenue.WriteOrders(path, revenue.Orders{Seed: uint64(orderFiles), Rows: rows, Customers: nCustomers + 100,
			FirstID: int64(orderFiles) * 1_000_000, Start: 1_700_000_000 + int64(orderFiles)*3600, Span: 4 * 86400, Refunds: 5})
		if err != nil {
			t.Fatal(err)
		}
		orderFiles++
	}
	moveCustomers := func(rng *rand.Rand, n int) {
		for range n {
			id := rng.IntN(nCustomers)
			moved[id] = !moved[id]
		}
		writeCustomers()
	}
	model := func() []string {
		rows, err := revenue.Compute(orders, customers, window)
		if err != nil {
			t.Fatal(err)
		}
		return revenue.Strings(rows)
	}
	args := []string{"-orders", orders, "-customers", customers, "-output", output, "-storage", storage, "-append", "-window", itoa(window)}
	rng := rand.New(rand.NewPCG(14, 1))

	// Rounds run once: each emits exactly the difference.
	writeCustomers()
	before := []string(nil)
	for round, change := range []func(){
		func() { addOrders(20_000) },
		func() { addOrders(20) },          // a few new orders
		func() { moveCustomers(rng, 30) }, // 1% of the customers move
		func() {},                         // nothing new: nothing emitted
		func() { addOrders(500); moveCustomers(rng, 10) },
	} {
		change()
		lines := len(readSinkIfAny(t, output))
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("round %d: %v\n%s", round, err, out)
		}
		after := model()
		got := consolidatedSigned(readSinkIfAny(t, output)[lines:])
		if want := signedDifference(before, after); !slices.Equal(got, want) {
			t.Fatalf("round %d emitted %d rows:\n%v\nwant the %d of the difference:\n%v", round, len(got), head(got, 8), len(want), head(want, 8))
		}
		before = after
	}

	// Rounds killed at random moments.
	kills := 0
	for round := 0; round < 3; round++ {
		addOrders(30_000)
		if round > 0 {
			moveCustomers(rng, 60)
		}
		a := append(slices.Clone(args), "-snapshot-interval", []string{"0", "20ms", "0"}[round])
		if round == 2 {
			a = append(a, "-memory-limit", "1")
		}
		kills += killUntilDone(t, rng, bin, a, storage)
		lines := readSink(t, output)
		for i := 1; i < len(lines); i++ {
			if lines[i].time < lines[i-1].time {
				t.Fatalf("line %d: time %d after %d", i+2, lines[i].time, lines[i-1].time)
			}
		}
		if got, want := consolidated(t, lines), model(); !slices.Equal(got, want) {
			t.Fatalf("killed round %d: the changelog consolidates to %d rows, want %d:\n%v\nwant\n%v", round, len(got), len(want), head(got, 8), head(want, 8))
		}
	}
	if kills < 3 {
		t.Fatalf("only %d runs were killed: the test proved too little", kills)
	}
	t.Logf("%d kills, %d order files, %d customers moved", kills, orderFiles, len(moved))
}

// readSinkIfAny is readSink of a file that may not exist yet.
func readSinkIfAny(t *testing.T, path string) []sinkLine {
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	return readSink(t, path)
}

// signedDifference returns after - before as consolidatedSigned writes it.
func signedDifference(before, after []string) []string {
	var lines []sinkLine
	for _, r := range before {
		lines = append(lines, sinkLine{row: r, diff: -1})
	}
	for _, r := range after {
		lines = append(lines, sinkLine{row: r, diff: 1})
	}
	return consolidatedSigned(lines)
}

// TestRevenueStreaming runs the built examples/revenue with -mode
// streaming: orders added and customers moved while it runs reach the
// changelog without a restart, and SIGTERM ends it with exit status 0,
// its changelog equal to the from-scratch result.
func TestRevenueStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildExample(t, "revenue")
	dir := t.TempDir()
	orders, customers := filepath.Join(dir, "orders"), filepath.Join(dir, "customers")
	output := filepath.Join(dir, "revenue.csv")
	os.Mkdir(orders, 0o755)
	os.Mkdir(customers, 0o755)
	const nCustomers = 500
	moved := map[int]bool{}
	writeCustomers := func() {
		// Written beside the directory, then renamed into it: the source
		// sees the whole file at once.
		tmp := filepath.Join(dir, "customers.tmp")
		if err := revenue.WriteCustomers(tmp, nCustomers, 3, moved); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(customers, "customers.csv")); err != nil {
			t.Fatal(err)
		}
	}
	addOrders := func(i int) {
		tmp := filepath.Join(dir, "orders.tmp")
		if err := revenue.WriteOrders(tmp, revenue.Orders{Seed: uint64(i), Rows: 2000, Customers: nCustomers, FirstID: int64(i) * 10_000,
			Start: 1_700_000_000, Span: 86400, Refunds: 5}); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(orders, fmt.Sprintf("orders_%d.csv", i))); err != nil {
			t.Fatal(err)
		}
	}
	want := func() []string {
		rows, err := revenue.Compute(orders, customers, 3600)
		if err != nil {
			t.Fatal(err)
		}
		return revenue.Strings(rows)
	}
	writeCustomers()
	addOrders(0)
	cmd := exec.Command(bin, "-orders", orders, "-customers", customers, "-output", output, "-storage", filepath.Join(dir, "storage"),
		"-append", "-mode", "streaming", "-autocommit-duration", "20ms", "-snapshot-interval", "10ms")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	reaches := func(what string) {
		t.Helper()
		w := want()
		waitFor(t, what, func() bool {
			lines := readSinkIfAny(t, output)
			return len(lines) > 0 && slices.Equal(consolidated(t, lines), w)
		})
	}
	reaches("the first orders")
	addOrders(1)
	reaches("orders added while it runs")
	for id := 0; id < nCustomers; id += 50 {
		moved[id] = true
	}
	writeCustomers()
	reaches("customers moved while it runs")
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v\n%s", err, stderr.Bytes())
	}
	if got := consolidated(t, readSink(t, output)); !slices.Equal(got, want()) {
		t.Fatalf("the changelog consolidates to %d rows, want %d", len(got), len(want()))
	}
}
