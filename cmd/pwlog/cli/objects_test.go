package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/clock"
	"github.com/pwlog/pwlog/internal/location"
	"github.com/pwlog/pwlog/objlog"
	"github.com/pwlog/pwlog/tool"
)

// storeURL names the storages in an object store of these tests: a
// backend.Mem the commands open in place of S3 (openLocation).
const storeURL = "s3://bucket/prefix"

// named gives a backend the name a pipeline reports it by.
type named struct {
	backend.Backend
	name string
}

func (n named) String() string { return n.name }

var errInjected = errors.New("injected checkpoint failure")

// objectStore returns a storage in an object store like the fixture:
// run 1 of the tutorial finished, run 2 committed its time to the log
// and failed before its final compaction. The commands open storeURL as
// it for the rest of the test.
func objectStore(t *testing.T) *backend.Mem {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // the engine's cache of the checkpoint
	saved := clock.Now
	defer func() { clock.Now = saved }()
	clock.Now = func() time.Time { return time.UnixMilli(1_700_000_000_000) }
	mem := backend.NewMem()
	dir := t.TempDir()
	input := filepath.Join(dir, "input")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for run := 1; run <= 2; run++ {
		if err := copyInput(filepath.Join(tutorialData, fmt.Sprintf("run%d", run)), input); err != nil {
			t.Fatal(err)
		}
		if run == 2 {
			mem.SetFail(func(op, name string) error {
				if strings.HasPrefix(name, base.CheckpointDir+"/"+base.RunPrefix) && (op == "put" || op == "create") {
					return errInjected
				}
				return nil
			})
		}
		err := sessions(input, filepath.Join(dir, "sessions.csv")).Run(t.Context(), pwlog.Config{Backend: named{mem, storeURL}, Logger: quiet})
		mem.SetFail(nil)
		if run == 1 && err != nil || run == 2 && !errors.Is(err, errInjected) {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	openAs(t, map[string]backend.Backend{storeURL: mem})
	return mem
}

// openAs makes the commands open the storage URLs of stores as their
// backends, for the rest of the test.
func openAs(t *testing.T, stores map[string]backend.Backend) {
	saved := openLocation
	t.Cleanup(func() { openLocation = saved })
	openLocation = func(loc string) (backend.Backend, error) {
		if b, ok := stores[loc]; ok {
			return b, nil
		}
		return location.Open(loc)
	}
}

// The commands take a storage URL where they take a directory, and name
// it, and its objects by URL, where they name the directory and its files.
func TestObjectStoreCommands(t *testing.T) {
	mem := objectStore(t)
	r := run(t, "", "inspect", storeURL)
	if r.code != ExitOK || r.err != "" || !strings.HasPrefix(r.out, "storage     s3://bucket/prefix\nformat      2\n") ||
		!strings.Contains(r.out, "\nlease       free: no writer holds the storage\n") || !strings.Contains(r.out, "00000000000000000005.log") {
		t.Errorf("inspect: exit %d, stderr %q\n%s", r.code, r.err, r.out)
	}
	r = run(t, "", "inspect", "--json", storeURL)
	var info tool.StorageInfo
	if err := json.Unmarshal([]byte(r.out), &info); err != nil || r.code != ExitOK || info.Dir != storeURL || info.WAL.Times != 1 || info.Checkpoint == nil {
		t.Errorf("inspect --json: exit %d, %v\n%s", r.code, err, r.out)
	}

	r = run(t, "", "verify", storeURL)
	if r.code != ExitOK || !strings.HasPrefix(r.out, "s3://bucket/prefix: sound (") {
		t.Errorf("verify: exit %d, stderr %q\n%s", r.code, r.err, r.out)
	}

	r = run(t, "", "dump", "--json", "--kind", "input", storeURL)
	var e struct{ Kind, File string }
	first, _, _ := strings.Cut(r.out, "\n")
	if err := json.Unmarshal([]byte(first), &e); err != nil || r.code != ExitOK || e.Kind != "input" ||
		!strings.HasPrefix(e.File, "s3://bucket/prefix/wal/") || !strings.HasSuffix(e.File, ".log") {
		t.Errorf("dump: exit %d, %v\n%s", r.code, err, r.out)
	}
	r = run(t, "", "dump", "--checkpoint", "--kind", "commit", storeURL)
	if r.code != ExitOK || !strings.Contains(r.out, "run       00000000000000000001.run") {
		t.Errorf("dump --checkpoint: exit %d, stderr %q\n%s", r.code, r.err, r.out)
	}

	// A writer holds the lease: inspect names it, compact refuses.
	lease, err := objlog.AcquireLease(t.Context(), mem, &objlog.LeaseOptions{Duration: time.Minute, Host: "elsewhere", PID: 4242})
	if err != nil {
		t.Fatal(err)
	}
	holder := fmt.Sprintf("host elsewhere pid 4242 epoch %d", lease.Epoch())
	if r := run(t, "", "inspect", storeURL); r.code != ExitOK || !strings.Contains(r.out, "\nlease       held by "+holder+"\n") {
		t.Errorf("inspect, lease held: exit %d\n%s", r.code, r.out)
	}
	if err := lease.Close(); err != nil {
		t.Fatal(err)
	}
	lease, err = objlog.AcquireLease(t.Context(), mem, &objlog.LeaseOptions{Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	r = run(t, "", "compact", storeURL)
	if r.code != ExitLocked || !strings.HasPrefix(r.err, "pwlog: storage is locked: s3://bucket/prefix is in use: ") ||
		!strings.Contains(r.err, fmt.Sprintf("pid %d epoch %d", os.Getpid(), lease.Epoch())) {
		t.Errorf("compact, lease held: exit %d, stderr %q", r.code, r.err)
	}
	if err := lease.Close(); err != nil {
		t.Fatal(err)
	}

	r = run(t, "", "compact", storeURL)
	if r.code != ExitOK || !strings.HasPrefix(r.out, "s3://bucket/prefix: ") || !strings.Contains(r.out, "\nfolded the log up to LSN 13 into manifest 3: ") {
		t.Errorf("compact: exit %d, stderr %q\n%s", r.code, r.err, r.out)
	}
	r = run(t, "", "compact", "--json", storeURL)
	var st compactJSON
	if err := json.Unmarshal([]byte(r.out), &st); err != nil || r.code != ExitOK || st.Dir != storeURL || st.Compacted || st.FoldedLSN != 13 {
		t.Errorf("compact --json: exit %d, %v\n%s", r.code, err, r.out)
	}
	r = run(t, "", "dump", storeURL)
	if r.code != ExitOK || r.out != "" ||
		r.err != "pwlog: nothing to print: the log of s3://bucket/prefix is empty, everything up to LSN 13 is folded into its checkpoint (MANIFEST-00000000000000000003); dump --checkpoint prints the checkpoint's state\n" {
		t.Errorf("dump after compact: exit %d, stderr %q\n%s", r.code, r.err, r.out)
	}
}

// Damage in an object store is told by the object's URL, with the exit
// status of damage.
func TestObjectStoreDamaged(t *testing.T) {
	mem := objectStore(t)
	const obj = "wal/00000000000000000005.log"
	b, err := mem.Get(t.Context(), obj)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 0xff
	if err := mem.Put(t.Context(), obj, b); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", "verify", storeURL)
	if r.code != ExitDamaged || !strings.HasPrefix(r.out, "problem: s3://bucket/prefix/"+obj+" offset ") || r.err != "pwlog: s3://bucket/prefix is damaged: 1 problem\n" {
		t.Errorf("verify: exit %d, stderr %q\n%s", r.code, r.err, r.out)
	}
	for _, cmd := range []string{"inspect", "dump", "compact"} {
		if r := run(t, "", cmd, storeURL); r.code != ExitDamaged {
			t.Errorf("%s: exit %d, stderr %q", cmd, r.code, r.err)
		}
	}
}

// A storage URL that cannot be opened or read: the commands could not
// run, and say why, naming it. (Against a real server, a missing bucket
// is the server's error; here a backend that answers as one.)
func TestObjectStoreUnreachable(t *testing.T) {
	missing := backend.NewMem()
	missing.SetFail(func(op, name string) error {
		return errors.New("s3: " + op + " s3://nobucket/prefix/" + name + ": NoSuchBucket: The specified bucket does not exist")
	})
	openAs(t, map[string]backend.Backend{"s3://nobucket/prefix": missing})
	for _, cmd := range []string{"inspect", "dump", "verify", "compact"} {
		r := run(t, "", cmd, "gs://bucket/prefix")
		if r.code != ExitCantRun || r.err != `pwlog: storage "gs://bucket/prefix": unknown scheme "gs" (a directory, s3://BUCKET/PREFIX or azure://CONTAINER/PREFIX)`+"\n" {
			t.Errorf("%s gs://: exit %d, stderr %q", cmd, r.code, r.err)
		}
		r = run(t, "", cmd, "s3://nobucket/prefix")
		if r.code != ExitCantRun || !strings.HasPrefix(r.err, "pwlog: list s3://nobucket/prefix: ") || !strings.Contains(r.err, "NoSuchBucket") {
			t.Errorf("%s, missing bucket: exit %d, stderr %q", cmd, r.code, r.err)
		}
	}
}
