package tool

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/location"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/wal"
)

// Problem is one piece of damage Verify found.
type Problem struct {
	File string `json:"file"`
	// Offset is the byte offset in File; -1 when the problem is the whole
	// file (missing, of the wrong size).
	Offset int64 `json:"offset"`
	// LSN is the log record concerned, 0 when none.
	LSN     uint64 `json:"lsn,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	s := p.File
	if p.Offset >= 0 {
		s += fmt.Sprintf(" offset %d", p.Offset)
	}
	if p.LSN > 0 {
		s += fmt.Sprintf(" (LSN %d)", p.LSN)
	}
	return s + ": " + p.Message
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	Dir string `json:"dir"`
	// Problems is the damage: the storage is sound when there is none.
	Problems []Problem `json:"problems"`
	// Notes are findings that are not damage: a torn or uncommitted log
	// tail the next execution cuts, files the next compaction deletes.
	Notes []string `json:"notes"`
	// What was checked.
	Records   int   `json:"records"`
	Manifests int   `json:"manifests"`
	Runs      int   `json:"runs"`
	Bytes     int64 `json:"bytes"`
	// Committed is what the checkpoint and the committed log add up to
	// (see StorageInfo.Committed); it is not printed.
	Committed record.Summary `json:"-"`
}

// Sound reports whether Verify found no damage.
func (r *VerifyReport) Sound() bool { return len(r.Problems) == 0 }

// Verify checks the storage in dir (a directory or a storage URL, see
// ReadOptions.Backend) without changing it: every checksum
// of the log, the manifests and the runs; the continuity of the log's
// frames and segments; that every record decodes and every batch is
// consistent (one logical time, times never going back, state only of
// arrangements the pipeline has); that the live manifest's runs are
// there, of the size and checksum it records, sorted and consolidated;
// and that the log after the checkpoint follows it without a gap. It
// fails only when it cannot run: dir is not a pwlog storage this build
// reads, or a file cannot be read for a reason other than damage. A
// damaged format marker is a problem, not a failure: the rest is checked
// as this build's format.
func Verify(ctx context.Context, dir string, opts *ReadOptions) (*VerifyReport, error) {
	dir = location.LocalPath(dir)
	o := opts.withDefaults()
	v, err := openView(ctx, o, dir, true)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{Dir: dir, Problems: []Problem{}, Notes: []string{}}
	vr := &verifier{rep: rep, v: v, st: v.state, at: map[uint64]wal.Entry{}}
	vr.st.Problem = vr.batchProblem
	var walBytes int64
	switch {
	case v.b == nil:
		walBytes = storage.Bytes(o.FS, storage.LogDir(dir))
	case o.Progress != nil:
		// The log's objects are sized only for the progress's total:
		// the scan tells their bytes.
		for _, n := range v.logObjectSizes() {
			walBytes += n
		}
	}
	var runBytes int64
	if v.manifest != nil {
		for _, r := range v.manifest.Runs {
			runBytes += r.Bytes
		}
	}
	total := walBytes + runBytes
	progress := func(done int64) {
		if o.Progress != nil {
			o.Progress(min(done, total), total)
		}
	}

	if me := v.markerErr; me != nil {
		vr.problem(v.path(base.Marker), -1, 0, "the format marker %s is damaged: it %s; the log and checkpoints were checked as format %d",
			base.Marker, me.Reason(), v.format)
	}
	vr.checkManifests()
	if err := vr.checkRuns(ctx, progress); err != nil {
		return nil, err
	}
	scan, err := v.scanLog(func(done, _ int64) { progress(runBytes + done) },
		func(e wal.Entry) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			vr.entry(e)
			return nil
		})
	if err != nil {
		return nil, err
	}
	vr.checkLog(scan)
	rep.Committed = vr.st.Summary()
	if v.b != nil {
		total = runBytes + scan.Bytes
	}
	progress(total)
	rep.Bytes = total
	return rep, nil
}

// verifier holds the state of one Verify.
type verifier struct {
	rep *VerifyReport
	v   *view
	// st folds the committed records, checking the batches' rules.
	st *storage.State
	// at places the records st has seen: LSN -> file and offset.
	at        map[uint64]wal.Entry
	kindAtLSN wal.Kind // kind of the record at the manifest's LSN; 0 when not in the log
}

func (vr *verifier) problem(file string, off int64, lsn uint64, format string, args ...any) {
	vr.rep.Problems = append(vr.rep.Problems, Problem{File: file, Offset: off, LSN: lsn, Message: fmt.Sprintf(format, args...)})
}

func (vr *verifier) note(format string, args ...any) {
	vr.rep.Notes = append(vr.rep.Notes, fmt.Sprintf(format, args...))
}

// damage records err, a decoding error of file, as a problem, placed at
// its offset when it is a *checkpoint.CorruptError or *wal.CorruptError.
func (vr *verifier) damage(file string, err error) {
	var ce *checkpoint.CorruptError
	var we *wal.CorruptError
	switch {
	case errors.As(err, &ce):
		vr.problem(file, ce.Offset, 0, "%s", ce.Reason)
	case errors.As(err, &we):
		vr.problem(cmp.Or(we.File, file), we.Offset, we.LSN, "%s", we.Reason)
	default:
		vr.problem(file, -1, 0, "%v", err)
	}
}

// checkManifests decodes every manifest file; openView decoded the newest.
func (vr *verifier) checkManifests() {
	v := vr.v
	for _, name := range v.manifests {
		vr.rep.Manifests++
		if name == v.manifestName {
			if v.manifestErr != nil {
				vr.damage(v.cpPath(name), v.manifestErr)
			}
			continue
		}
		if _, err := v.readManifest(name); err != nil {
			vr.damage(v.cpPath(name), err)
			vr.note("%s is an older manifest, not in use: the next compaction deletes it", v.cpPath(name))
		}
	}
	for _, n := range v.temps {
		vr.note("%s is a temporary file a crashed write left: the next execution or compaction deletes it", v.cpPath(n))
	}
}

// checkRuns reads every run of the live manifest.
func (vr *verifier) checkRuns(ctx context.Context, progress func(int64)) error {
	v := vr.v
	if v.manifest == nil {
		return nil
	}
	live := map[string]bool{}
	var done int64
	for _, r := range v.manifest.Runs {
		if err := ctx.Err(); err != nil {
			return err
		}
		live[r.Name] = true
		vr.rep.Runs++
		p := v.cpPath(r.Name)
		b, err := v.readCheckpoint(r.Name)
		done += r.Bytes
		progress(done)
		if err != nil {
			if notExist(err) {
				vr.problem(p, -1, 0, "missing: manifest %s lists it", v.manifestName)
				continue
			}
			return fmt.Errorf("pwlog: verify: %w", err)
		}
		if int64(len(b)) != r.Bytes {
			vr.problem(p, -1, 0, "%d bytes, manifest %s says %d", len(b), v.manifestName, r.Bytes)
			continue
		}
		if crc := checkpoint.Checksum(b); crc != r.CRC {
			// Decoding places the damage; the header checksum covers
			// the whole file, so it finds it.
			if _, _, err := checkpoint.DecodeRun(p, b); err != nil {
				vr.damage(p, err)
			} else {
				vr.problem(p, -1, 0, "checksum %08x, manifest %s says %08x", crc, v.manifestName, r.CRC)
			}
			continue
		}
		meta, d, err := checkpoint.DecodeRun(p, b)
		if err != nil {
			vr.damage(p, err)
			continue
		}
		if meta.Operator != r.Operator || meta.Arrangement != r.Arrangement || int64(d.Len()) != r.Entries {
			vr.problem(p, -1, 0, "holds %d entries of %s/%s, manifest %s says %d of %s/%s",
				d.Len(), meta.Operator, meta.Arrangement, v.manifestName, r.Entries, r.Operator, r.Arrangement)
		}
		if !vr.st.Catalog.Knows(r.Operator, r.Arrangement) {
			vr.problem(p, -1, 0, "state of %s/%s, which the pipeline does not have", r.Operator, r.Arrangement)
		}
	}
	for _, n := range v.runs {
		if !live[n] {
			vr.note("%s is not in the checkpoint: the next compaction deletes it", v.cpPath(n))
		}
	}
	return nil
}

// entry checks one record of the log: that it decodes, its rows decode
// and carry no diff 0, and (st) that its batch keeps the format's rules.
func (vr *verifier) entry(e wal.Entry) {
	vr.rep.Records++
	if m := vr.v.manifest; m != nil && e.LSN == m.LSN {
		vr.kindAtLSN = e.Kind
	}
	rec, err := record.Decode(e.Kind, e.Data)
	if err == nil {
		err = checkRows(rec)
	}
	if !e.Committed {
		if err != nil {
			vr.note("%s offset %d (LSN %d), after the last commit: %v", e.File, e.Offset, e.LSN, err)
		}
		return
	}
	if err != nil {
		vr.problem(e.File, e.Offset, e.LSN, "%v", err)
		return
	}
	e.Data = nil // the body is not retained
	vr.at[e.LSN] = e
	if err := vr.st.AddDecoded(e.LSN, e.Kind, rec, e.Size); err != nil {
		vr.problem(e.File, e.Offset, e.LSN, "%v", err)
	}
	if e.Kind == record.KindCommit {
		clear(vr.at)
	}
}

// batchProblem places a problem the fold found at its record.
func (vr *verifier) batchProblem(be *storage.BatchError) {
	e := vr.at[be.LSN]
	vr.problem(e.File, e.Offset, be.LSN, "%s record: %s", record.KindName(be.Kind), be.Reason)
}

// checkRows decodes every row of a decoded record and checks that no
// diff is 0. State groups are not checked: a group key may be plain text
// (a retracting source's file path).
func checkRows(rec any) error {
	var rows []string
	var diffs []int64
	switch r := rec.(type) {
	case *record.Input:
		rows, diffs = r.Rows, r.Diffs
	case *record.Output:
		rows, diffs = r.Rows, r.Diffs
	case *record.State:
		rows, diffs = r.Deltas.Rows, r.Deltas.Diffs
	}
	var buf differential.Row
	var err error
	for i, row := range rows {
		if buf, err = differential.DecodeRow(buf[:0], []byte(row)); err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
		if diffs[i] == 0 {
			return fmt.Errorf("row %d: diff 0", i)
		}
	}
	return nil
}

// checkLog checks what the scan of the log found against the checkpoint.
func (vr *verifier) checkLog(scan wal.Info) {
	for _, p := range scan.Problems {
		vr.problem(p.File, p.Offset, p.LSN, "%s", p.Reason)
	}
	// Damage in the last segment ends the log early: the tail it leaves
	// is not one a crash leaves.
	if scan.TailBytes > 0 && len(scan.Problems) == 0 {
		why := "uncommitted records of a batch whose commit was never written"
		if scan.TailDamage != "" {
			why = "a torn tail: " + scan.TailDamage
		}
		vr.note("the log ends with %d bytes after its last commit (LSN %d), %s: the next execution cuts them, as a crash leaves them", scan.TailBytes, scan.LastCommitLSN, why)
	}
	for _, f := range scan.Interrupted {
		vr.note("%s: a log truncation a crash interrupted; the next execution completes it", f)
	}
	for _, f := range scan.Broken {
		vr.note("%s: a copy an earlier repair kept of a log tail it cut", f)
	}
	v := vr.v
	walDir := v.logPath()
	m := v.manifest
	empty := scan.LastLSN < scan.FirstLSN
	switch {
	case m == nil && v.manifestErr == nil && !empty && scan.FirstLSN != 1:
		vr.problem(walDir, -1, scan.FirstLSN, "the log starts at LSN %d with no checkpoint before it: LSNs 1..%d are lost", scan.FirstLSN, scan.FirstLSN-1)
	case m == nil:
	case keptLSN(scan) < m.LSN:
		vr.problem(walDir, -1, m.LSN, "the checkpoint (%s) covers the log up to LSN %d, but the log ends at LSN %d: committed records are missing", v.manifestName, m.LSN, keptLSN(scan))
	case !empty && scan.FirstLSN > m.LSN+1:
		vr.problem(walDir, -1, m.LSN+1, "the log starts at LSN %d, but the checkpoint (%s) covers only up to LSN %d: LSNs %d..%d are lost", scan.FirstLSN, v.manifestName, m.LSN, m.LSN+1, scan.FirstLSN-1)
	case scan.FirstLSN <= m.LSN && vr.kindAtLSN != 0 && vr.kindAtLSN != record.KindCommit:
		vr.problem(walDir, -1, m.LSN, "the checkpoint (%s) ends at LSN %d, which is a %s record, not a commit", v.manifestName, m.LSN, record.KindName(vr.kindAtLSN))
	}
}
