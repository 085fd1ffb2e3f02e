package tool

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/checkpoint"
)

func TestVerifySound(t *testing.T) {
	for name, build := range map[string]func(*testing.T) string{"interrupted": interrupted, "finished": finished} {
		dir := build(t)
		before := snapshot(t, dir)
		rep, err := Verify(t.Context(), dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Sound() || len(rep.Notes) > 0 || rep.Manifests != 1 || rep.Runs == 0 || rep.Bytes == 0 {
			t.Errorf("%s: %+v", name, rep)
		}
		if snapshot(t, dir) != before {
			t.Errorf("%s: Verify changed the storage", name)
		}
	}
}

// A flipped byte of a run and of a log frame: each a problem placed at
// its file and offset.
func TestVerifyDamaged(t *testing.T) {
	dir := interrupted(t)
	run := filepath.Join(dir, "checkpoints", "runs", "00000000000000000001.run")
	seg := only(t, dir, "wal/*")
	flip(t, run, 60)
	flip(t, seg, 200)
	rep, err := Verify(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 2 {
		t.Fatalf("problems %v, want 2", rep.Problems)
	}
	p := rep.Problems[0]
	// Byte 60 is in the run's first block, which starts after the 24-byte
	// header and has a checksum of its own.
	if p.File != run || p.Offset != 24 || !strings.Contains(p.Message, "block 0: CRC mismatch") {
		t.Errorf("run problem %+v", p)
	}
	p = rep.Problems[1]
	if p.File != seg || p.Offset != 144 || p.LSN != 9 || !strings.HasPrefix(p.Message, "CRC mismatch") {
		t.Errorf("log problem %+v", p)
	}
}

// A run's problem is placed where the checkpoint package places it: the
// run decoded alone names the same offset.
func TestVerifyPlacesRunDamageAsCheckpoint(t *testing.T) {
	for _, off := range []int64{0, 10, 15, 22, 30, 60, 200} {
		dir := interrupted(t)
		run := filepath.Join(dir, "checkpoints", "runs", "00000000000000000001.run")
		flip(t, run, off)
		rep, err := Verify(t.Context(), dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(run)
		if err != nil {
			t.Fatal(err)
		}
		_, _, derr := checkpoint.DecodeRun(run, b)
		var ce *checkpoint.CorruptError
		if !errors.As(derr, &ce) {
			t.Fatalf("byte %d: DecodeRun: %v", off, derr)
		}
		if len(rep.Problems) != 1 || rep.Problems[0].Offset != ce.Offset || rep.Problems[0].Message != ce.Reason {
			t.Errorf("byte %d: verify says %v, the checkpoint package %v", off, rep.Problems, derr)
		}
	}
}

// A damaged or missing format marker is a problem of the report, not a
// failure: the log and checkpoints are checked, and found sound.
func TestVerifyDamagedMarker(t *testing.T) {
	sound, err := Verify(t.Context(), interrupted(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		damage func(marker string) error
		want   string
	}{
		{"flipped", func(m string) error { flip(t, m, 5); return nil }, `it holds "pwlog\xdfstorage format 2\n", not "pwlog storage format N\n"`},
		{"empty", func(m string) error { return os.WriteFile(m, nil, 0o644) }, `it holds "", not`},
		{"garbage", func(m string) error { return os.WriteFile(m, []byte(strings.Repeat("x", 100)), 0o644) }, `it holds "` + strings.Repeat("x", 40) + `"..., not`},
		{"deleted", os.Remove, "it is missing, but "},
	} {
		dir := interrupted(t)
		marker := filepath.Join(dir, "PWLOG")
		if err := c.damage(marker); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(t.Context(), dir, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(rep.Problems) != 1 || rep.Records != sound.Records || rep.Runs != sound.Runs || rep.Manifests != sound.Manifests {
			t.Fatalf("%s: %+v, want the marker's problem and the rest checked", c.name, rep)
		}
		p := rep.Problems[0]
		if p.File != marker || p.Offset != -1 || !strings.HasPrefix(p.Message, "the format marker PWLOG is damaged: "+c.want) ||
			!strings.HasSuffix(p.Message, "; the log and checkpoints were checked as format 2") {
			t.Errorf("%s: problem %+v", c.name, p)
		}

		// The others refuse such a storage, saying why.
		_, ierr := Inspect(t.Context(), dir, nil)
		_, derr := Dump(t.Context(), dir, nil, func(*DumpEntry) error { return nil })
		before := snapshot(t, dir)
		_, cerr := Compact(t.Context(), dir, &CompactOptions{Logger: quiet})
		if snapshot(t, dir) != before {
			t.Errorf("%s: Compact changed a storage with a damaged marker", c.name)
		}
		for i, err := range []error{ierr, derr, cerr} {
			var me *MarkerError
			if !errors.As(err, &me) || !errors.Is(err, ErrMarkerDamaged) || !errors.Is(err, ErrFormat) || !IsDamage(err) ||
				me.Dir != dir || me.Missing != (c.name == "deleted") ||
				!strings.HasPrefix(err.Error(), "pwlog: the format marker PWLOG is damaged: "+marker+" "+strings.TrimPrefix(c.want, "it ")) {
				t.Errorf("%s: tool %d: %v", c.name, i, err)
			}
		}
	}
}

// A marker of a newer format is not damage: the tools cannot read the
// storage.
func TestNewerFormat(t *testing.T) {
	dir := interrupted(t)
	if err := os.WriteFile(filepath.Join(dir, "PWLOG"), []byte("pwlog storage format 99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Verify(t.Context(), dir, nil)
	if !errors.Is(err, ErrFormat) || errors.Is(err, ErrMarkerDamaged) || IsDamage(err) || !strings.Contains(err.Error(), "use a newer pwlog") {
		t.Errorf("newer format: %v", err)
	}
}
